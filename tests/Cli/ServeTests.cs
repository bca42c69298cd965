using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MusicGen.Cli.Serve;
using MusicGen.Midi;

namespace MusicGen.Tests.Cli;

/// <summary>`musicgen serve` over HTTP: the API the page uses, bad input, and a bounded load.</summary>
public sealed class ServeTests : IAsyncLifetime
{
    WebServer _server = null!;
    readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(5) };

    public async Task InitializeAsync() => _server = await WebServer.StartAsync(new ServeOptions { Port = 0, MaxUploadBytes = 16 * 1024 });
    public async Task DisposeAsync() { _http.Dispose(); await _server.DisposeAsync(); }

    Task<HttpResponseMessage> Post(object body) => _http.PostAsJsonAsync(_server.Url + "/api/generate", body);
    Task<HttpResponseMessage> PostRaw(string text) => _http.PostAsync(_server.Url + "/api/generate", new StringContent(text, System.Text.Encoding.UTF8, "application/json"));

    [Fact]
    public async Task The_page_and_the_models_are_served_from_loopback()
    {
        Assert.StartsWith("http://127.0.0.1:", _server.Url);
        var page = await _http.GetStringAsync(_server.Url + "/");
        Assert.Contains("<title>MusicGen</title>", page);
        Assert.True(page.Length < 1_000_000, $"page weight {page.Length} bytes");
        Assert.DoesNotMatch("(src|href)=\"https?://", page); // nothing from the internet
        var models = JsonNode.Parse(await _http.GetStringAsync(_server.Url + "/api/models"))!["models"]!.AsArray();
        Assert.Contains(models, m => (string)m!["name"]! == "pop");
        Assert.Contains("# The LSTM, walked through", await _http.GetStringAsync(_server.Url + "/docs/LSTM.md"));
    }

    [Fact]
    public async Task Generate_returns_notes_a_midi_file_and_the_networks_trace()
    {
        var r = await Post(new { model = "pop", bars = 4, seed = 5, key = "D", bpm = 100, temperature = 0.9, trace = true });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        var notes = j["notes"]!.AsArray();
        Assert.NotEmpty(notes);
        Assert.Equal(100, (double)j["bpm"]!);
        Assert.Equal("D major", (string)j["key"]!);
        var midi = MidiReader.Read(Convert.FromBase64String((string)j["midi"]!));
        Assert.Equal(notes.Count, midi.Count); // the MIDI file holds the notes the page draws
        var trace = j["trace"]!;
        int steps = (int)trace["steps"]!, H = (int)trace["hidden"]!, layers = (int)trace["layers"]!;
        Assert.Equal((int)j["generated"]!, steps);
        Assert.Equal(steps * 4 * H, Convert.FromBase64String((string)trace["gates"]![layers - 1]!).Length);
        Assert.Equal(steps * H, Convert.FromBase64String((string)trace["cells"]![0]!).Length);
        Assert.All(trace["probabilities"]!.AsArray(), p => Assert.Equal(1.0, p!.AsArray().Sum(x => (double)x!), 1));
        // The same seed composes the same piece.
        var again = JsonNode.Parse(await (await Post(new { model = "pop", bars = 4, seed = 5, key = "D", bpm = 100, temperature = 0.9 })).Content.ReadAsStringAsync())!;
        Assert.Equal(notes.ToJsonString(), again["notes"]!.ToJsonString());
    }

    [Fact]
    public async Task An_uploaded_piece_is_continued()
    {
        var primer = Enumerable.Range(0, 16).Select(i => new Note(60 + (i * 5) % 12, 80, i * 0.5, i * 0.5 + 0.45, 0, 0)).ToList();
        using var ms = new MemoryStream();
        MidiWriter.Write(ms, primer);
        var r = await Post(new { primer = Convert.ToBase64String(ms.ToArray()), includePrimer = true, notes = 40, seed = 2 });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.Equal(16, (int)j["primerNotes"]!);
        Assert.True((double)j["takeover"]! > 0);
    }

    [Theory]
    [InlineData("{\"notes\": 0}", 400, "notes 0 outside")]
    [InlineData("{\"bars\": 100000}", 400, "bars 100000 outside")]
    [InlineData("{\"bpm\": 1e9}", 400, "bpm")]
    [InlineData("{\"temperature\": -1}", 400, "temperature -1 outside")]
    [InlineData("{\"key\": \"H#\"}", 400, "key 'H#'")]
    [InlineData("{\"model\": \"nope\"}", 400, "model 'nope': choose")]
    [InlineData("{\"seed\": -3}", 400, "seed -3")]
    [InlineData("{\"notes\": \"many\"}", 400, "notes: '\"many\"' is not a number")]
    [InlineData("{\"notes\": 5, \"bars\": 2}", 400, "not both")]
    [InlineData("not json", 400, "not JSON")]
    [InlineData("[1, 2]", 400, "not JSON")]
    [InlineData("{\"primer\": \"%%%\"}", 400, "not base64")]
    [InlineData("{\"primer\": \"aGVsbG8gd29ybGQ=\"}", 400, "not a MIDI file")]
    [InlineData("{\"primerBars\": 2}", 400, "needs a primer")]
    public async Task Bad_input_gets_a_4xx_status_and_one_line(string body, int status, string message)
    {
        var r = await PostRaw(body);
        Assert.Equal(status, (int)r.StatusCode);
        var error = (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
        Assert.Contains(message, error);
        Assert.DoesNotContain('\n', error);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync(_server.Url + "/api/models")).StatusCode); // still serving
    }

    [Fact]
    public async Task An_oversized_upload_is_refused_with_413()
    {
        // Over the server's upload limit (16 KB here): as decoded MIDI, and as a request body too large to read.
        var big = Convert.ToBase64String(new byte[20 * 1024]);
        var r = await Post(new { primer = big });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        var huge = await PostRaw("{\"primer\": \"" + new string('A', 200 * 1024) + "\"}");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Contains("larger than", (string)JsonNode.Parse(await huge.Content.ReadAsStringAsync())!["error"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync(_server.Url + "/nothing/here")).StatusCode);
    }

    [Fact]
    public async Task A_hundred_concurrent_requests_are_all_served_none_lost()
    {
        int before = _server.Generated;
        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Post(new { notes = 8, seed = i })));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var seeds = await Task.WhenAll(responses.Select(async r => (int)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["seed"]!));
        Assert.Equal(Enumerable.Range(0, 100), seeds.Order()); // each request got its own answer
        Assert.Equal(before + 100, _server.Generated);
    }
}
