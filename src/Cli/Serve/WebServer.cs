using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Model;

namespace MusicGen.Cli.Serve;

/// <summary>What <c>musicgen serve</c> was started with.</summary>
public sealed record ServeOptions
{
    /// <summary>The address to listen on: loopback unless the user says otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>The port; 0 picks a free one (tests).</summary>
    public int Port { get; init; } = 5000;
    /// <summary>Checkpoints offered beside the embedded models, by file or run directory.</summary>
    public IReadOnlyList<string> Checkpoints { get; init; } = [];
    public string Device { get; init; } = "cpu";
    /// <summary>Generation requests waiting beyond the one running; more are refused with 503.</summary>
    public int MaxQueue { get; init; } = 256;
    /// <summary>The largest MIDI file a user may upload to continue.</summary>
    public int MaxUploadBytes { get; init; } = 1 << 20;
}

/// <summary>
/// <c>musicgen serve</c>: a local web page to compose, listen, continue a piece and watch the LSTM while it composes.
/// Kestrel serves one static page (Serve/index.html, embedded) and a small JSON API over the same library the CLI uses:
///   GET  /api/models     the models on offer and the limits of each parameter
///   POST /api/generate   {model, notes | bars, bpm, key, temperature, seed, primer (base64 MIDI), primerBars, includePrimer, trace}
///                        -> the notes, the MIDI file (base64) and, with trace, what the network computed at each new note
///   GET  /docs/LSTM.md   the LSTM walk-through the page links into
/// Generation runs one request at a time (a model's buffers are not shared between threads); the others wait in order,
/// up to <see cref="ServeOptions.MaxQueue"/>. Bad input gets a 4xx status and {"error": "one line"}; nothing a request
/// sends can stop the server.
/// </summary>
public sealed class WebServer : IAsyncDisposable
{
    /// <summary>A model on offer.</summary>
    sealed record Entry(string Name, string Source, string Licence, MusicModel Model);

    readonly WebApplication _app;
    readonly Backend _backend;
    readonly List<Entry> _models;
    readonly ServeOptions _options;
    readonly SemaphoreSlim _gate = new(1, 1);
    int _waiting;

    WebServer(WebApplication app, Backend backend, List<Entry> models, ServeOptions options)
    {
        _app = app; _backend = backend; _models = models; _options = options;
    }

    /// <summary>The address the page is served at (with the real port when 0 was asked).</summary>
    public string Url { get; private set; } = "";

    /// <summary>Requests served by generation so far (the load test counts them).</summary>
    public int Generated => _generated;
    int _generated;

    public static async Task<WebServer> StartAsync(ServeOptions options, Action<string>? log = null)
    {
        if (options.Port is < 0 or > 65535) throw new ArgumentException($"--port {options.Port} outside 0..65535");
        var backend = Devices.Create(options.Device);
        var models = new List<Entry>();
        try
        {
            foreach (var builtIn in BuiltInModels.All.Where(e => e.Present))
            {
                var (model, source) = BuiltInModels.LoadModel(null, builtIn.Name, backend);
                models.Add(new Entry(builtIn.Name, source, $"{builtIn.Licence} ({builtIn.Corpus})", model));
            }
            foreach (var path in options.Checkpoints)
            {
                var (model, source) = Commands.GenerateCommand.LoadModel(path, backend);
                string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
                while (models.Any(m => m.Name == name)) name += "'";
                models.Add(new Entry(name, source, "the checkpoint's own", model));
            }
            if (models.Count == 0) throw new InvalidDataException("no model to serve: this build has no embedded model; give --checkpoint");
        }
        catch { foreach (var m in models) m.Model.Dispose(); backend.Dispose(); throw; }

        // Warm up: the CLI compiles every method fully optimised on first use (TieredCompilation off), so the first
        // composition pays for compiling; done here, before listening, the user's first press of Generate does not.
        foreach (var m in models) Composer.Compose(m.Model, new ComposeRequest { Notes = 4, Seed = 1, Trace = new GenerationTrace() });

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            // The JSON of the largest upload (base64 adds a third), and a little for the rest of the request.
            k.Limits.MaxRequestBodySize = options.MaxUploadBytes * 4L / 3 + 64 * 1024;
            if (options.Host is "localhost") k.ListenLocalhost(options.Port);
            else if (System.Net.IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else throw new ArgumentException($"--host '{options.Host}': give an IP address (127.0.0.1, the default, serves this machine only)");
        });
        var app = builder.Build();
        var server = new WebServer(app, backend, models, options);
        server.Map(app);
        try { await app.StartAsync(); }
        catch (IOException e) { await server.DisposeAsync(); throw new IOException($"cannot listen on {options.Host}:{options.Port}: {e.Message}"); }
        // The address Kestrel really listens on (port 0 asks for a free one).
        var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>();
        server.Url = (addresses?.Addresses.FirstOrDefault() ?? app.Urls.First()).Replace("[::1]", "localhost");
        // The first request through Kestrel and the JSON writer compiles them too: one small request to itself now.
        using (var http = new HttpClient())
            await http.PostAsync(server.Url + "/api/generate", new StringContent("{\"notes\": 4, \"seed\": 1, \"trace\": true}", System.Text.Encoding.UTF8, "application/json"));
        server._generated = 0;
        log?.Invoke($"serving {string.Join(", ", models.Select(m => m.Name))} at {server.Url} (Ctrl-C stops)");
        return server;
    }

    void Map(WebApplication app)
    {
        app.MapGet("/", () => Results.Content(Resource("index.html"), "text/html; charset=utf-8"));
        app.MapGet("/docs/LSTM.md", () => Results.Content(Resource("LSTM.md"), "text/plain; charset=utf-8"));
        app.MapGet("/api/models", () => Results.Json(Models()));
        app.MapPost("/api/generate", (Delegate)Generate);
        app.MapFallback((HttpContext c) => Error(404, $"no such page: {c.Request.Path}"));
    }

    static string Resource(string name)
    {
        using var s = typeof(WebServer).Assembly.GetManifestResourceStream($"MusicGen.Cli.Serve.{name}") ?? throw new InvalidDataException($"this build has no {name}");
        return new StreamReader(s).ReadToEnd();
    }

    JsonObject Models() => new()
    {
        ["models"] = new JsonArray(_models.Select(m => (JsonNode)new JsonObject
        {
            ["name"] = m.Name, ["source"] = m.Source, ["licence"] = m.Licence, ["layers"] = m.Model.Config.Layers, ["hidden"] = m.Model.Config.Hidden,
            ["beats"] = m.Model.Config.Beats, ["bidirectional"] = m.Model.Config.Bidirectional, ["parameters"] = m.Model.ParameterCount,
        }).ToArray()),
        ["limits"] = new JsonObject
        {
            ["notes"] = new JsonArray(1, MaxNotes), ["bars"] = new JsonArray(1, MaxBars), ["bpm"] = new JsonArray(MinBpm, ComposeRequest.MaxBpm),
            ["temperature"] = new JsonArray(MinTemperature, MaxTemperature), ["uploadBytes"] = _options.MaxUploadBytes,
        },
    };

    /// <summary>The page's bounds on a request (the library's own are wider; a web page has no business asking for more).</summary>
    public const int MaxNotes = 2000, MaxBars = 128;
    public const double MinBpm = 20, MinTemperature = 0.05, MaxTemperature = 5;

    static IResult Error(int status, string message) => Results.Json(new JsonObject { ["error"] = message }, statusCode: status);

    async Task<IResult> Generate(HttpContext http)
    {
        JsonObject body;
        try
        {
            var node = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            body = node as JsonObject ?? throw new JsonException("expected a JSON object");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Error(413, $"the request is larger than {_options.MaxUploadBytes / 1024} KB of MIDI allows");
        }
        catch (JsonException e) { return Error(400, $"the request is not JSON: {FirstLine(e.Message)}"); }

        Request r;
        try { r = ReadRequest(body); }
        catch (RequestException e) { return Error(e.Status, e.Message); }

        if (Interlocked.Increment(ref _waiting) > _options.MaxQueue + 1)
        {
            Interlocked.Decrement(ref _waiting);
            return Error(503, $"busy: {_options.MaxQueue} requests are already waiting; try again shortly");
        }
        try
        {
            await _gate.WaitAsync(http.RequestAborted);
            try { return Results.Json(Compose(r)); }
            finally { _gate.Release(); }
        }
        catch (OperationCanceledException) { return Error(499, "the request was cancelled"); }
        catch (Exception e) when (e is ArgumentException or MidiFormatException or InvalidDataException) { return Error(400, FirstLine(e.Message)); }
        catch (Exception e) { return Error(500, $"generation failed: {FirstLine(e.Message)}"); }
        finally { Interlocked.Decrement(ref _waiting); }
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    sealed class RequestException(int status, string message) : Exception(message) { public int Status { get; } = status; }

    sealed record Request(Entry Model, int? Notes, int? Bars, double? Bpm, MusicKey? Key, float Temperature, ulong Seed, byte[]? Primer, int? PrimerBars, bool IncludePrimer, bool Trace);

    Request ReadRequest(JsonObject b)
    {
        static RequestException Bad(string message) => new(400, message);
        T? Get<T>(string name) where T : struct
        {
            if (!b.TryGetPropertyValue(name, out var n) || n is null) return null;
            try { return n.GetValue<T>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException) { throw Bad($"{name}: '{n.ToJsonString()}' is not a {(typeof(T) == typeof(bool) ? "true or false" : "number")}"); }
        }
        string? Text(string name) => b.TryGetPropertyValue(name, out var n) && n is not null
            ? (n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw Bad($"{name}: expected a string")) : null;

        string modelName = Text("model") ?? _models[0].Name;
        var model = _models.FirstOrDefault(m => m.Name == modelName) ?? throw Bad($"model '{modelName}': choose {string.Join(", ", _models.Select(m => m.Name))}");
        int? notes = Get<int>("notes"), bars = Get<int>("bars");
        if (notes is not null && bars is not null) throw Bad("give notes or bars, not both");
        if (notes is < 1 or > MaxNotes) throw Bad($"notes {notes} outside 1..{MaxNotes}");
        if (bars is < 1 or > MaxBars) throw Bad($"bars {bars} outside 1..{MaxBars}");
        double? bpm = Get<double>("bpm");
        if (bpm is double t0 && !(t0 >= MinBpm && t0 <= ComposeRequest.MaxBpm)) throw Bad($"bpm {t0} outside {MinBpm}..{ComposeRequest.MaxBpm}");
        MusicKey? key = null;
        if (Text("key") is string k && k.Length > 0)
            key = MusicKey.TryParse(k, out var mk) ? mk : throw Bad($"key '{k}': write {MusicKey.AcceptedForms}");
        double temperature = Get<double>("temperature") ?? SamplingOptions.MeasuredFor(model.Model.Config).Temperature;
        if (!(temperature >= MinTemperature && temperature <= MaxTemperature)) throw Bad($"temperature {temperature} outside {MinTemperature}..{MaxTemperature}");
        double seed = Get<double>("seed") ?? Random.Shared.NextInt64(1, 1L << 40);
        if (!(seed >= 0 && seed < 1L << 53 && seed == Math.Floor(seed))) throw Bad($"seed {seed}: a whole number from 0 to 2^53");
        byte[]? primer = null;
        if (Text("primer") is string p64 && p64.Length > 0)
        {
            try { primer = Convert.FromBase64String(p64); }
            catch (FormatException) { throw Bad("primer: not base64"); }
            if (primer.Length > _options.MaxUploadBytes) throw new RequestException(413, $"the MIDI file is {primer.Length / 1024} KB; the most is {_options.MaxUploadBytes / 1024} KB");
        }
        int? primerBars = Get<int>("primerBars");
        if (primerBars is not null && primer is null) throw Bad("primerBars needs a primer (a MIDI file to continue)");
        if (primerBars is < 1 or > 1000) throw Bad($"primerBars {primerBars} outside 1..1000");
        bool include = Get<bool>("includePrimer") ?? false, trace = Get<bool>("trace") ?? false;
        return new Request(model, notes, bars, bpm, key, (float)temperature, (ulong)seed, primer, primerBars, include, trace);
    }

    /// <summary>One generation, through <see cref="Composer.Compose"/> as `musicgen generate` does; with trace, what the network computed.</summary>
    JsonObject Compose(Request r)
    {
        var model = r.Model.Model;
        var c = model.Config;
        Primer? primer = null;
        if (r.Primer is byte[] bytes)
        {
            try { primer = Primer.FromBytes(bytes, c, r.PrimerBars); }
            catch (MidiFormatException e) { throw new ArgumentException($"the uploaded file is not a MIDI file this can read: {FirstLine(e.Message)}"); }
            if (primer.Rows.Length < Generator.MinPrimer(c))
                throw new ArgumentException($"the uploaded file gives {primer.Rows.Length} notes; the model needs at least {Generator.MinPrimer(c)}");
        }
        var trace = r.Trace ? new GenerationTrace() : null;
        var request = new ComposeRequest
        {
            Notes = r.Notes ?? 200, Bars = r.Bars, Count = 1, Seed = r.Seed, Bpm = r.Bpm, Key = r.Key,
            Sampling = SamplingOptions.MeasuredFor(c) with { Temperature = r.Temperature }, Primer = primer, IncludePrimer = r.IncludePrimer && primer is not null, Trace = trace,
        };
        var started = DateTime.UtcNow;
        var piece = Composer.Compose(model, request)[0];
        double seconds = (DateTime.UtcNow - started).TotalSeconds;
        Interlocked.Increment(ref _generated);
        using var midi = new MemoryStream();
        MidiWriter.Write(midi, piece.Notes, piece.File);
        var result = new JsonObject
        {
            ["model"] = r.Model.Name, ["seed"] = r.Seed, ["bpm"] = piece.File.BeatsPerMinute, ["meter"] = piece.File.Meter.ToString(), ["key"] = piece.Key.ToString(),
            ["barSeconds"] = piece.File.Meter.BarBeats * 60 / piece.File.BeatsPerMinute, ["takeover"] = piece.TakeoverSeconds, ["primerNotes"] = piece.PrimerNotes,
            ["generated"] = piece.Generated, ["seconds"] = Math.Round(seconds, 3),
            ["notes"] = new JsonArray(piece.Notes.Select(n => (JsonNode)new JsonArray(n.Pitch, Math.Round(n.Start, 4), Math.Round(n.End, 4), n.Velocity)).ToArray()),
            ["midi"] = Convert.ToBase64String(midi.ToArray()),
        };
        if (trace is not null) result["trace"] = TraceJson(trace);
        return result;
    }

    /// <summary>
    /// The trace, compact: per layer, the gates i, f, g, o and tanh of the cell state of every step, quantised to bytes
    /// (0..255 over [0, 1] for i, f, o and over [-1, 1] for g and tanh c), base64, step-major ([steps, 4H] and [steps, H]);
    /// the pitch distributions rounded to 4 decimals.
    /// </summary>
    static JsonObject TraceJson(GenerationTrace t)
    {
        int n = t.Steps.Count, H = t.Hidden;
        var gates = new JsonArray(); var cells = new JsonArray();
        for (int l = 0; l < t.Layers; l++)
        {
            var g = new byte[n * 4 * H]; var cs = new byte[n * H];
            for (int s = 0; s < n; s++)
            {
                var sg = t.Steps[s].Gates[l];
                for (int j = 0; j < 4 * H; j++)
                {
                    bool tanh = j / H == 2;
                    g[s * 4 * H + j] = Byte(tanh ? (sg[j] + 1) / 2 : sg[j]);
                }
                var sc = t.Steps[s].Cell[l];
                for (int j = 0; j < H; j++) cs[s * H + j] = Byte((MathF.Tanh(sc[j]) + 1) / 2);
            }
            gates.Add(Convert.ToBase64String(g)); cells.Add(Convert.ToBase64String(cs));
        }
        return new JsonObject
        {
            ["layers"] = t.Layers, ["hidden"] = H, ["steps"] = n,
            ["pitches"] = new JsonArray(t.Steps.Select(s => (JsonNode)s.Pitch).ToArray()),
            ["gates"] = gates, ["cells"] = cells,
            ["probabilities"] = new JsonArray(t.Steps.Select(s => (JsonNode)new JsonArray(s.PitchProbabilities.Select(p => (JsonNode)Math.Round(p, 4)).ToArray())).ToArray()),
        };
    }

    static byte Byte(float unit) => (byte)Math.Clamp(MathF.Round(unit * 255), 0, 255);

    /// <summary>Runs until Ctrl-C (or the token).</summary>
    public Task WaitForShutdownAsync(CancellationToken token = default) => _app.WaitForShutdownAsync(token);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var m in _models) m.Model.Dispose();
        _backend.Dispose();
        _gate.Dispose();
    }
}
