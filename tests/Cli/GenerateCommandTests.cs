using MusicGen.Midi;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Midi;

namespace MusicGen.Tests.Cli;

public class GenerateCommandTests
{
    /// <summary>A tiny checkpoint trained from the command line on generated MIDI.</summary>
    static string TinyCheckpoint(TempDir dir)
    {
        for (int f = 0; f < 12; f++)
            dir.Write($"data/s{f}.mid", new SmfBuilder().AddTrack(t => { for (int i = 0; i < 30; i++) { int p = 55 + (i * (f % 4 + 2)) % 17; t.On(0, p).Off(100, p); } }).Build());
        var r = CliRunner.Run("train", "--data", dir["data"], "--out", dir["run"], "--epochs", "2", "--seq", "4", "--layers", "1", "--hidden", "8", "--batch", "4", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return dir["run"];
    }

    [Fact]
    public void Generate_writes_the_requested_notes_as_midi_and_a_png_and_is_reproducible()
    {
        using var dir = new TempDir();
        var run = TinyCheckpoint(dir);
        var r = CliRunner.Run("generate", "--checkpoint", run, "--notes", "50", "--seed", "9", "--out", dir["out/a.mid"], "--png");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(50, MidiReader.ReadFile(dir["out/a.mid"]).Count);
        Assert.True(new FileInfo(dir["out/a.png"]).Length > 1000);
        Assert.Equal(0, CliRunner.Run("generate", "--checkpoint", run, "--notes", "50", "--seed", "9", "--out", dir["out/b.mid"]).ExitCode);
        Assert.Equal(File.ReadAllBytes(dir["out/a.mid"]), File.ReadAllBytes(dir["out/b.mid"]));

        var many = CliRunner.Run("generate", "--checkpoint", run, "--seconds", "5", "--count", "3", "--seed", "1", "--out", dir["out/m.mid"]);
        Assert.True(many.ExitCode == 0, many.Stderr);
        for (int i = 1; i <= 3; i++) Assert.All(MidiReader.ReadFile(dir[$"out/m-{i}.mid"]), n => Assert.True(n.Start < 5.01));
    }

    [Fact]
    public void The_embedded_default_model_writes_chords_varied_lengths_and_dynamics_without_one_note_loops()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("generate", "--notes", "120", "--seed", "3", "--out", dir["song.mid"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("built-in pop model (POP909", r.Stdout);
        var notes = MidiReader.ReadFile(dir["song.mid"]);
        Assert.Equal(120, notes.Count);
        Assert.True(notes.Select(n => n.Pitch).Distinct().Count() >= 12, "too few distinct pitches");
        Assert.InRange(MusicGen.Cli.Commands.GenerateCommand.LongestRun(notes), 1, 6);
        var starts = notes.Select(n => n.Start).Order().ToArray();
        int chordNotes = Enumerable.Range(1, starts.Length - 1).Count(i => starts[i] - starts[i - 1] < 0.02);
        Assert.InRange(chordNotes, 12, 108);                                                   // chords, but not only chords
        Assert.True(notes.Select(n => Math.Round(n.Duration, 2)).Distinct().Count() >= 8, "too few distinct durations");
        Assert.True(notes.Select(n => n.Velocity).Distinct().Count() >= 4, "too few distinct velocities");
        // Without --primer, pieces start in keys drawn from the seed: two seeds, two different pieces.
        var other = CliRunner.Run("generate", "--notes", "120", "--seed", "4", "--out", dir["song4.mid"]);
        Assert.True(other.ExitCode == 0, other.Stderr);
        Assert.NotEqual(notes.Select(n => n.Pitch).Take(20), MidiReader.ReadFile(dir["song4.mid"]).Select(n => n.Pitch).Take(20));

        // As docs/DEFAULT_MODEL.md says: float16 storage, a few MB at most, a unidirectional every-step network.
        string file = Path.Combine(SharedData.RepositoryRoot, "models", "default-pop909.safetensors");
        Assert.InRange(new FileInfo(file).Length, 100_000, 3_000_000);
        var info = CliRunner.Run("info", file);
        Assert.Contains("stored as F16", info.Stdout);
        Assert.Contains("\"Bidirectional\":false,\"EveryStep\":true", info.Stdout);
        Assert.Contains("\"Heads\":\"categorical\"", info.Stdout);
        Assert.Contains("\"StepFirst\":true", info.Stdout);
        // The embedded models themselves, without a file: `info` alone is the pop model; --model names the other.
        var embedded = CliRunner.Run("info");
        Assert.Contains("built-in pop model (POP909", embedded.Stdout);
        Assert.Contains("\"Time\":\"beats\"", embedded.Stdout);
        Assert.Contains("built-in classical model (ASAP", CliRunner.Run("info", "--model", "classical").Stdout);
        Assert.Equal(2, CliRunner.Run("info", "--model", "jazz").ExitCode);
    }

    [Fact]
    public void An_output_path_that_cannot_be_written_is_refused_before_any_work()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["afile"], "x");
        var r = CliRunner.Run("generate", "--notes", "2000", "--count", "64", "--out", dir["afile/song.mid"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is a file, not a folder", r.Stderr);
        Assert.Contains("song.mid", r.Stderr); // the user's path, not a temp file
        Assert.DoesNotContain("notes/s", r.Stdout); // nothing was generated
        var folder = CliRunner.Run("export", Path.Combine(SharedData.RepositoryRoot, "models", "default-pop909.safetensors"), "--out", dir["afile/m.safetensors"]);
        Assert.Equal(2, folder.ExitCode);
        // A folder that does not exist yet is made.
        var made = CliRunner.Run("generate", "--notes", "10", "--seed", "1", "--out", dir["new/sub/song.mid"]);
        Assert.True(made.ExitCode == 0, made.Stderr);
        Assert.True(File.Exists(dir["new/sub/song.mid"]));
    }

    [Fact]
    public void The_classical_model_is_embedded_and_selected_by_name()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("generate", "--model", "classical", "--notes", "150", "--seed", "3", "--out", dir["c.mid"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("built-in classical model (ASAP", r.Stdout);
        var notes = MidiReader.ReadFile(dir["c.mid"]);
        Assert.Equal(150, notes.Count);
        Assert.True(notes.Select(n => n.Pitch).Distinct().Count() >= 12, "too few distinct pitches");
        // The same seed with the pop model gives another piece; an unknown name or both --model and --checkpoint is a one-line error.
        var pop = CliRunner.Run("generate", "--model", "pop", "--notes", "150", "--seed", "3", "--out", dir["p.mid"]);
        Assert.Contains("built-in pop model (POP909", pop.Stdout);
        Assert.NotEqual(notes.Select(n => n.Pitch), MidiReader.ReadFile(dir["p.mid"]).Select(n => n.Pitch));
        var bad = CliRunner.Run("generate", "--model", "jazz", "--out", dir["j.mid"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("choose pop or classical", bad.Stderr);
        Assert.Equal(2, CliRunner.Run("generate", "--model", "pop", "--checkpoint", dir["c.mid"], "--out", dir["x.mid"]).ExitCode);
        // The model file states its data in its metadata; its licence is stated beside it in models/README.md.
        Assert.Contains("default-classical.safetensors", File.ReadAllText(Path.Combine(SharedData.RepositoryRoot, "models", "README.md")));
        Assert.Contains("CC BY-NC-SA 4.0", File.ReadAllText(Path.Combine(SharedData.RepositoryRoot, "models", "README.md")));
    }

    [Fact]
    public void Wav_renders_with_fluidsynth_or_says_what_is_missing_and_keeps_the_midi()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("generate", "--notes", "20", "--seed", "1", "--out", dir["w.mid"], "--wav");
        Assert.Equal(20, MidiReader.ReadFile(dir["w.mid"]).Count);
        if (MusicGen.Cli.AudioRenderer.Missing(out _, out _) is string why)
        {
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(why, r.Stderr);
        }
        else
        {
            Assert.True(r.ExitCode == 0, r.Stderr);
            var wav = File.ReadAllBytes(dir["w.wav"]);
            Assert.Equal("RIFF"u8.ToArray(), wav[..4]);
            Assert.True(wav.Length > 44 + 44100, "a few seconds of audio");
        }
    }

    [Fact]
    public void Bad_generate_inputs_are_one_line_errors_with_non_zero_exits()
    {
        using var dir = new TempDir();
        var run = TinyCheckpoint(dir);
        var notMidi = dir.Write("primer.mid", "hello"u8.ToArray());
        var shortPrimer = dir.Write("short.mid", new SmfBuilder().AddTrack(t => t.On(0, 60).Off(10, 60)).Build());
        string[][] cases =
        [
            ["--checkpoint", dir["missing.safetensors"]],
            ["--checkpoint", notMidi],
            ["--checkpoint", run, "--primer", notMidi],
            ["--checkpoint", run, "--primer", shortPrimer],
            ["--checkpoint", run, "--temperature", "0"],
            ["--checkpoint", run, "--top-p", "1.5"],
            ["--checkpoint", run, "--top-p", "0"],
            ["--checkpoint", run, "--top-k", "-1"],
            ["--checkpoint", run, "--top-k", "0"],
            ["--checkpoint", run, "--count", "0"],
            ["--checkpoint", run, "--notes", "0"],
            ["--checkpoint", run, "--notes", "5", "--seconds", "3"],
            ["--checkpoint", run, "--step-temperature", "0"],
            ["--checkpoint", run, "--duration-top-p", "1.5"],
            ["--checkpoint", run, "--velocity-temperature", "-1"],
        ];
        foreach (var args in cases)
        {
            var r = CliRunner.Run(["generate", "--out", dir["x.mid"], .. args]);
            Assert.True(r.ExitCode == 2, $"{string.Join(' ', args)} -> {r.ExitCode}: {r.Stderr}");
            Assert.Single(r.Stderr.Trim().Split('\n'));
        }
    }

    /// <summary>A tiny beats-mode run, trained from the command line on generated files with a beat grid.</summary>
    static string TinyBeatsCheckpoint(TempDir dir)
    {
        for (int f = 0; f < 12; f++)
            dir.Write($"beats/s{f}.mid", new SmfBuilder().AddTrack(t =>
            {
                t.Tempo(0, 600_000); // 100 bpm
                for (int i = 0; i < 40; i++) { int p = 55 + (i * (f % 4 + 2)) % 17; t.On(0, p).Off(i % 3 == 0 ? 480 : 240, p); }
            }).Build());
        var r = CliRunner.Run("train", "--data", dir["beats"], "--time", "beats", "--out", dir["brun"], "--epochs", "1", "--seq", "4", "--layers", "1", "--hidden", "8",
            "--batch", "4", "--unidirectional", "--every-step", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return dir["brun"];
    }

    [Fact]
    public void A_beats_model_writes_the_asked_bars_on_the_grid_at_the_asked_tempo_meter_and_key()
    {
        using var dir = new TempDir();
        var run = TinyBeatsCheckpoint(dir);
        Assert.Contains("\"Time\":\"beats\"", CliRunner.Run("info", run).Stdout);
        var r = CliRunner.Run("generate", "--checkpoint", run, "--bars", "6", "--bpm", "90", "--meter", "3/4", "--key", "Bb", "--seed", "2", "--out", dir["b.mid"], "--png");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var score = MidiReader.ReadScoreFile(dir["b.mid"]);
        Assert.All(score.StartBeats, b => Assert.Equal(b * 12, Math.Round(b * 12), 9));   // every onset on the 1/12-beat grid
        Assert.InRange(score.StartBeats.Max(), 0, 6 * 3 - 1e-9);                          // no onset after the sixth bar of 3/4
        var file = new NAudio.Midi.MidiFile(dir["b.mid"], strictChecking: true);
        Assert.All(Enumerable.Range(0, file.Tracks), t => Assert.Equal(6 * 3 * 480L, file.Events[t][^1].AbsoluteTime)); // and the file ends at its last bar line
        Assert.Equal(90, score.MedianBpm(), 2);
        Assert.Equal(new Meter(0, 3, 4), score.Meters[0]);
        Assert.Equal((-2, false), (score.Keys[0].SharpsFlats, score.Keys[0].Minor));      // B-flat major: two flats
        // The tempo defaults to the training corpus' median; the primer's when a primer is given.
        var d = CliRunner.Run("generate", "--checkpoint", run, "--bars", "2", "--seed", "2", "--out", dir["d.mid"]);
        Assert.Contains("at 100 bpm", d.Stdout);
        var c = CliRunner.Run("generate", "--checkpoint", run, "--primer", dir["beats/s3.mid"], "--primer-bars", "2", "--include-primer", "--bars", "2", "--seed", "2", "--out", dir["c.mid"]);
        Assert.True(c.ExitCode == 0, c.Stderr);
        Assert.Matches(@"primer: \d+ notes, 2 of \d+ bar\(s\)", c.Stdout);
        Assert.Contains("at 100 bpm", c.Stdout);
    }

    [Theory]
    [InlineData("the accepted forms", "--key", "X")]
    [InlineData("one of --notes, --seconds and --bars", "--bars", "4", "--notes", "20")]
    [InlineData("--bpm must be above 0 and at most 400", "--bpm", "0")]
    [InlineData("--bpm must be above 0 and at most 400", "--bpm", "401")]
    [InlineData("--bars must be in", "--bars", "0")]
    [InlineData("need --primer FILE", "--include-primer")]
    [InlineData("write it as N/D", "--meter", "3-4")]
    public void Bad_controls_get_a_one_line_error_and_exit_2(string message, params string[] args)
    {
        using var dir = new TempDir();
        var r = CliRunner.Run(["generate", .. args, "--out", dir["x.mid"]]);
        Assert.Equal(2, r.ExitCode);
        var line = Assert.Single(r.Stderr.Trim().Split('\n'));
        if (message == "the accepted forms") Assert.Contains("for example C, F#, Bb, Am", line); else Assert.Contains(message, line);
        Assert.False(File.Exists(dir["x.mid"]));
    }

    [Fact]
    public void Primer_bars_beyond_the_file_say_how_many_bars_it_has()
    {
        using var dir = new TempDir();
        dir.Write("p.mid", BeatFeaturesTests.ShiftedFile(offset: 0, bars: 3));
        var r = CliRunner.Run("generate", "--primer", dir["p.mid"], "--primer-bars", "9", "--out", dir["x.mid"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--primer-bars 9: the file has 3 bar(s)", r.Stderr);
    }
}
