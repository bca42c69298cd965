using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MusicGen.Midi;

namespace MusicGen.Model;

/// <summary>
/// The .safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}},
/// then the raw little-endian tensor bytes. Readable by `safetensors.torch.load_file` in Python.
/// Tensors are stored as F32, or as F16 (IEEE half: half the size, about 3 significant digits; the embedded
/// default model) and widened back to float on reading.
/// Writing is atomic; reading checks every offset against the file's real size before allocating.
/// </summary>
public static class SafeTensors
{
    const long MaxHeader = 100 << 20;
    public const string ChecksumKey = "musicgen.data_xxh3";

    /// <summary>The bytes a tensor is stored as: little-endian F32, or F16 (each value rounded to the nearest half).</summary>
    static byte[] Encode(float[] data, bool half)
    {
        if (!half) return MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
        var h = new Half[data.Length];
        for (int i = 0; i < data.Length; i++) h[i] = (Half)data[i];
        return MemoryMarshal.AsBytes(h.AsSpan()).ToArray();
    }

    /// <param name="half">Store every tensor as F16 instead of F32.</param>
    public static void Save(string path, IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors, IReadOnlyDictionary<string, string> metadata, bool half = false)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors is little-endian");
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var (k, v) in metadata) meta[k] = v;
        var bytes = tensors.Select(t => Encode(t.Data, half)).ToList();
        // Not part of the format: a checksum of the data section so a corrupted file is refused, not loaded as noise.
        var hash = new System.IO.Hashing.XxHash3();
        foreach (var b in bytes) hash.Append(b);
        meta[ChecksumKey] = hash.GetCurrentHashAsUInt64().ToString("x16");
        header["__metadata__"] = meta;
        long offset = 0;
        int width = half ? 2 : 4;
        foreach (var (name, shape, data) in tensors)
        {
            long count = shape.Aggregate(1L, (a, d) => a * d);
            if (count != data.Length) throw new ArgumentException($"{name}: {data.Length} values for shape [{string.Join(",", shape)}]");
            header[name] = new JsonObject
            {
                ["dtype"] = half ? "F16" : "F32",
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + width * count),
            };
            offset += width * count;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // keep the data 8-byte aligned, padding with spaces as the spec allows
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var b in bytes) stream.Write(b);
        });
    }

    /// <param name="Storage">The dtypes the tensors were stored as ("F32", "F16", or "F16+F32" when mixed).</param>
    public sealed record File(Dictionary<string, (int[] Shape, float[] Data)> Tensors, Dictionary<string, string> Metadata, string Storage = "F32");

    /// <summary>Loads every tensor (F32, or F16 widened to float). Throws <see cref="InvalidDataException"/> with a reason for anything malformed.</summary>
    public static File Load(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try { return Load(stream); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); } // errors name the file
    }

    /// <summary>Loads from a seekable stream (a file, or an embedded resource).</summary>
    public static File Load(Stream stream)
    {
        long length = stream.Length;
        Span<byte> len = stackalloc byte[8];
        if (length < 8 || stream.ReadAtLeast(len, 8, throwOnEndOfStream: false) < 8) throw new InvalidDataException("too short to be a safetensors file");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (headerLength < 2 || headerLength > MaxHeader || (long)headerLength > length - 8) throw new InvalidDataException($"header length {headerLength} is impossible for a {length}-byte file (truncated or not safetensors)");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try { header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw new InvalidDataException("empty header"); }
        catch (JsonException e) { throw new InvalidDataException($"header is not valid JSON: {e.Message}"); }

        long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;
        var metadata = new Dictionary<string, string>();
        var tensors = new Dictionary<string, (int[], float[])>();
        var stored = new List<(long Offset, byte[] Bytes)>(); // as stored, for the checksum
        var dtypes = new SortedSet<string>();
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__")
                {
                    foreach (var (k, v) in node!.AsObject()) metadata[k] = v!.GetValue<string>();
                    continue;
                }
                var o = node!.AsObject();
                string dtype = o["dtype"]!.GetValue<string>();
                if (dtype is not ("F32" or "F16")) throw new InvalidDataException($"{name}: dtype {dtype} (only F32 and F16 are read)");
                int width = dtype == "F16" ? 2 : 4;
                dtypes.Add(dtype);
                var shape = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                var offsets = o["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                long count = shape.Aggregate(1L, (a, d) => d < 0 ? -1 : a * d);
                if (offsets.Length != 2 || count < 0 || offsets[0] < 0 || offsets[1] > dataLength || offsets[1] - offsets[0] != width * count)
                    throw new InvalidDataException($"{name}: data offsets [{string.Join(",", offsets)}] do not fit shape [{string.Join(",", shape)}] in {dataLength} data bytes (truncated?)");
                var raw = new byte[width * count];
                stream.Position = dataStart + offsets[0];
                stream.ReadExactly(raw);
                stored.Add((offsets[0], raw));
                var data = new float[count];
                if (width == 4) raw.AsSpan().CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
                else
                {
                    var h = MemoryMarshal.Cast<byte, Half>(raw.AsSpan());
                    for (int i = 0; i < data.Length; i++) data[i] = (float)h[i];
                }
                tensors[name] = (shape, data);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or KeyNotFoundException or ArgumentException or OverflowException)
        {
            // ArgumentException: a key given twice in the header (found by fuzzing); OverflowException: a shape too large to hold.
            throw new InvalidDataException($"malformed safetensors header: {e.Message}");
        }
        if (metadata.TryGetValue(ChecksumKey, out var expected))
        {
            var hash = new System.IO.Hashing.XxHash3();
            foreach (var (_, raw) in stored.OrderBy(t => t.Offset)) hash.Append(raw);
            if (hash.GetCurrentHashAsUInt64().ToString("x16") != expected) throw new InvalidDataException("corrupted: tensor data does not match its checksum");
        }
        return new File(tensors, metadata, dtypes.Count == 0 ? "F32" : string.Join("+", dtypes));
    }
}
