using MusicGen.Kernels;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace MusicGen.Tests.Kernels.Conformance;

/// <summary>
/// The base of the per-backend conformance tests, as ILGPU's own tests are laid out: one abstract class of tests per
/// feature, and one small subclass per backend that says which device it runs on and at what sizes. So a test is
/// written once, and each backend reports it under its own name (ManagedOpsConformance.Layer_norm_..., ...).
///
/// The managed backend runs realistic shapes; ILGPU's CPU accelerator simulates a GPU thread by thread, so it gets
/// tiny ones (<see cref="Size"/>); CUDA runs the realistic shapes and is skipped, with the reason, where no CUDA device
/// is present (<see cref="BackendFactAttribute"/>).
/// </summary>
public abstract class BackendConformance
{
    /// <summary>The --device kind the subclass tests.</summary>
    protected abstract string Device { get; }

    /// <summary>Whether this backend runs realistic shapes (managed, CUDA) or tiny ones (the ILGPU CPU simulator).</summary>
    protected abstract bool Large { get; }

    /// <summary><paramref name="large"/> where the backend is fast, else <paramref name="small"/>.</summary>
    protected int Size(int large, int small) => Large ? large : small;

    protected Backend CreateBackend() => TestBackends.Create(Device);

    /// <summary>Why a test class's backend cannot run here, or null: read by the discoverers from <see cref="BackendAttribute"/>.</summary>
    internal static string? SkipReason(Type testClass)
    {
        var kind = testClass.GetCustomAttributes(typeof(BackendAttribute), inherit: true).OfType<BackendAttribute>().FirstOrDefault()?.Kind;
        if (kind is null or "cpu" or "ilgpu-cpu") return null;
        lock (s_available)
        {
            if (!s_available.TryGetValue(kind, out bool present))
                s_available[kind] = present = Devices.List().Any(d => d.Kind == kind);
            return present ? null : $"no {kind} device on this machine";
        }
    }

    static readonly Dictionary<string, bool> s_available = [];
}

/// <summary>Names the device a conformance subclass needs, so its tests are skipped where that device is absent.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class BackendAttribute(string kind) : Attribute
{
    public string Kind { get; } = kind;
}

/// <summary>A fact of a <see cref="BackendConformance"/> class: skipped, with the reason, where its backend's device is absent.</summary>
[XunitTestCaseDiscoverer("MusicGen.Tests.Kernels.Conformance.BackendFactDiscoverer", "MusicGen.Tests")]
public sealed class BackendFactAttribute : FactAttribute { }

/// <summary>A theory of a <see cref="BackendConformance"/> class: skipped, with the reason, where its backend's device is absent.</summary>
[XunitTestCaseDiscoverer("MusicGen.Tests.Kernels.Conformance.BackendTheoryDiscoverer", "MusicGen.Tests")]
public sealed class BackendTheoryAttribute : TheoryAttribute { }

public sealed class BackendFactDiscoverer(IMessageSink sink) : FactDiscoverer(sink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute) =>
        BackendConformance.SkipReason(method.TestClass.Class.ToRuntimeType()) is { } why
            ? [new XunitSkippedDataRowTestCase(DiagnosticMessageSink, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), method, why)]
            : base.Discover(options, method, attribute);
}

public sealed class BackendTheoryDiscoverer(IMessageSink sink) : TheoryDiscoverer(sink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions options, ITestMethod method, IAttributeInfo attribute) =>
        BackendConformance.SkipReason(method.TestClass.Class.ToRuntimeType()) is { } why
            ? [new XunitSkippedDataRowTestCase(DiagnosticMessageSink, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), method, why)]
            : base.Discover(options, method, attribute);
}
