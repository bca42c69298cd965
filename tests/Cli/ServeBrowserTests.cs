using Microsoft.Playwright;
using MusicGen.Cli.Serve;
using MusicGen.Midi;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Cli;

/// <summary>Where a Chromium is: $MUSICGEN_CHROMIUM, else Debian's chromium package; null where there is none.</summary>
public static class SystemChromium
{
    public static string? Path { get; } = new[] { Environment.GetEnvironmentVariable("MUSICGEN_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
        .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));
}

/// <summary>A fact that drives a real browser: skipped, with the reason, where no system Chromium is installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute() { if (SystemChromium.Path is null) Skip = "no Chromium (apt-get install chromium, or set MUSICGEN_CHROMIUM)"; }
}

/// <summary>
/// The page of `musicgen serve` in headless Chromium (Playwright driving the system browser; nothing downloaded): it
/// composes, draws the roll, plays, downloads a MIDI file that parses, shows the LSTM, and asks nothing of the internet.
/// With MUSICGEN_SCREENSHOT=path.png it also saves a screenshot (docs/images/serve.png is made so).
/// </summary>
public class ServeBrowserTests
{
    [ChromiumFact]
    public async Task The_page_composes_plays_downloads_and_stays_on_localhost()
    {
        await using var server = await WebServer.StartAsync(new ServeOptions { Port = 0 });
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = SystemChromium.Path, Headless = true,
            Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-gpu"],
        });
        var context = await browser.NewContextAsync(new() { AcceptDownloads = true, ViewportSize = new() { Width = 1280, Height = 1100 } });
        var page = await context.NewPageAsync();
        var requests = new List<string>();
        page.Request += (_, r) => { lock (requests) requests.Add(r.Url); };
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);

        await page.GotoAsync(server.Url + "/");
        await page.WaitForFunctionAsync("document.querySelectorAll('#model option').length > 0");
        await page.FillAsync("#seed", "7");
        await page.FillAsync("#bars", "8");
        var clicked = DateTime.UtcNow;
        await page.ClickAsync("#generate");
        // Playback starts by itself once the piece is back: the AudioContext runs and notes are scheduled.
        await page.WaitForFunctionAsync("window.musicgen.playing !== null && window.musicgen.audio.state === 'running'", null, new() { Timeout = 60_000 });
        Console.WriteLine($"first sound scheduled {(DateTime.UtcNow - clicked).TotalSeconds:F2} s after Generate; in the page: " +
            await page.EvaluateAsync<string>("JSON.stringify({answered: window.musicgen.timing.answered - window.musicgen.timing.clicked, playing: window.musicgen.timing.playing - window.musicgen.timing.clicked})"));
        int rollNotes = int.Parse(await page.GetAttributeAsync("#roll", "data-notes") ?? "0");
        Assert.True(rollNotes > 0, "the roll has no notes");
        Assert.Equal("running", await page.EvaluateAsync<string>("window.musicgen.audio.state"));

        // The LSTM view: one column per new note, and the selected note's distribution.
        int steps = await page.EvaluateAsync<int>("window.musicgen.piece.trace.steps");
        Assert.Equal(steps, await page.EvaluateAsync<int>("document.getElementById('heat-i').width"));
        Assert.Contains("note 1 of", await page.TextContentAsync("#stepInfo"));
        await page.SelectOptionAsync("#layer", "0");
        await page.FillAsync("#unitCount", "32");
        await page.DispatchEventAsync("#unitCount", "change");
        Assert.Equal(32, await page.EvaluateAsync<int>("document.getElementById('heat-f').height"));

        // The download is the piece, as a MIDI file that parses.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#download"));
        using var dir = new TempDir();
        string path = dir["download.mid"];
        await download.SaveAsAsync(path);
        Assert.Equal(rollNotes, MidiReader.ReadFile(path).Count);

        if (Environment.GetEnvironmentVariable("MUSICGEN_SCREENSHOT") is { Length: > 0 } shot)
        {
            await page.ClickAsync("#play"); // stop, so the roll is drawn without the playhead
            await page.EvaluateAsync("selectStep(Math.min(24, window.musicgen.piece.trace.steps - 1))"); // a note a little way in
            await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
        }

        Assert.Empty(errors);
        lock (requests)
        {
            Assert.NotEmpty(requests);
            Assert.All(requests, u => Assert.True(u.StartsWith(server.Url) || u.StartsWith("blob:") || u.StartsWith("data:"), $"a request outside localhost: {u}"));
        }
    }
}
