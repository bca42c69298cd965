using MusicGen.Tests.Corpus;
using MusicGen.Tests.Midi;

namespace MusicGen.Tests.Cli;

public class PrepareCommandTests
{
    [SharedDataFact]
    public void Prepare_on_pop909_reports_909_read_0_skipped()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("prepare", "--data", SharedData.Pop909, "--out", dir.Path, "--quiet");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^909 files read, 0 skipped, \d{7} notes", r.Stdout);
    }

    [SharedDataFact]
    public void Prepare_on_the_maestro_sample_reports_the_csv_split()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("prepare", "--data", SharedData.MaestroSample, "--out", dir.Path, "--sustain");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"train\s*│\s*40\b", r.Stdout);
        Assert.Matches(@"validation\s*│\s*5\b", r.Stdout);
        Assert.Matches(@"test\s*│\s*7\b", r.Stdout);
    }

    [Fact]
    public void Bad_files_are_skipped_with_reasons_and_strict_makes_it_fail()
    {
        using var dir = new TempDir();
        dir.Write("data/good.mid", new SmfBuilder().AddTrack(t => t.On(0, 60).Off(100, 60)).Build());
        dir.Write("data/zero.mid", []);
        var ok = CliRunner.Run("prepare", "--data", dir["data"], "--out", dir["out"]);
        Assert.Equal(0, ok.ExitCode);
        Assert.Contains("empty file (0 bytes)", ok.Stdout);
        var strict = CliRunner.Run("prepare", "--data", dir["data"], "--out", dir["strict"], "--strict", "--quiet");
        Assert.Equal(1, strict.ExitCode);
        Assert.Contains("--strict", strict.Stderr);
        Assert.Empty(Directory.Exists(dir["strict"]) ? Directory.GetFiles(dir["strict"], "*.mgcache") : []); // no half-corpus left behind
    }

    [Fact]
    public void Skips_are_grouped_by_kind_with_an_example_and_listed_in_full_beside_the_cache()
    {
        using var dir = new TempDir();
        dir.Write("data/good.mid", new SmfBuilder().AddTrack(t => t.On(0, 60).Off(100, 60)).Build());
        // Three files cut short at different offsets: one kind of problem, whatever the numbers in its reason.
        var whole = new SmfBuilder().AddTrack(t => t.On(0, 60).Off(100, 60).On(0, 62).Off(100, 62)).Build();
        for (int k = 0; k < 3; k++) dir.Write($"data/cut{k}.mid", whole[..(whole.Length - 3 - k)]);
        dir.Write("data/drums.mid", new SmfBuilder().AddTrack(t => t.On(0, 36, 100, channel: 9).Off(100, 36, channel: 9)).Build());
        var r = CliRunner.Run("prepare", "--data", dir["data"], "--out", dir["out"], "--quiet");
        Assert.Equal(0, r.ExitCode);
        var kinds = r.Stdout.Split('\n').Where(l => l.StartsWith("skipped ", StringComparison.Ordinal)).ToList();
        Assert.Contains(kinds, l => l.StartsWith("skipped 3:", StringComparison.Ordinal));       // the three cut files, one row
        Assert.Contains(kinds, l => l.Contains("--include-drums", StringComparison.Ordinal));   // a drums-only file says how to keep it
        string list = Directory.GetFiles(dir["out"], "*.skipped.tsv").Single();
        var lines = File.ReadAllLines(list);
        Assert.Equal("file\treason", lines[0]);
        Assert.Equal(["cut0.mid", "cut1.mid", "cut2.mid", "drums.mid"], lines.Skip(1).Select(l => l.Split('\t')[0]));
        Assert.Contains(list, r.Stdout);
    }

    [Fact]
    public void Missing_folder_or_no_midi_or_bad_flag_give_one_line_errors_and_non_zero_exits()
    {
        using var dir = new TempDir();
        var missing = CliRunner.Run("prepare", "--data", dir["nope"], "--out", dir["out"]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Single(missing.Stderr.Trim().Split('\n'));
        Assert.Contains("no such folder", missing.Stderr);

        dir.Write("empty/readme.txt", "x"u8.ToArray());
        var none = CliRunner.Run("prepare", "--data", dir["empty"], "--out", dir["out"], "--quiet");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no usable MIDI file", none.Stderr);
        // train on that folder says the same with the same exit code
        var train = CliRunner.Run("train", "--data", dir["empty"], "--out", dir["run"], "--quiet");
        Assert.Equal(1, train.ExitCode);
        Assert.Contains("no usable MIDI file", Assert.Single(train.Stderr.Trim().Split('\n')));

        var badSplit = CliRunner.Run("prepare", "--data", dir["empty"], "--out", dir["out"], "--split", "50/x/1");
        Assert.Equal(2, badSplit.ExitCode);
        Assert.Contains("split", badSplit.Stderr);

        var badFlag = CliRunner.Run("prepare", "--data", dir["empty"], "--bogus");
        Assert.NotEqual(0, badFlag.ExitCode);
    }

    [Fact]
    public void Help_is_available_on_the_verb()
    {
        var r = CliRunner.Run("prepare", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--sustain", r.Stdout);
        Assert.Contains("--strict", r.Stdout);
    }

    [SharedDataFact]
    public void Time_in_beats_takes_a_corpus_with_a_grid_and_refuses_performances_naming_their_fraction()
    {
        using var dir = new TempDir();
        var pop = CliRunner.Run("prepare", "--data", SharedData.Pop909, "--time", "beats", "--out", dir["cache"], "--quiet");
        Assert.True(pop.ExitCode == 0, pop.Stderr);
        var m = System.Text.RegularExpressions.Regex.Match(pop.Stdout, @"beat grid: ([\d.]+) % of onsets");
        Assert.True(m.Success, pop.Stdout);
        Assert.InRange(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 90, 100);
        var cache = MusicGen.Midi.Corpus.NoteCorpus.Load(Directory.GetFiles(dir["cache"], "*-beats.mgcache").Single());
        Assert.Equal(MusicGen.Midi.TimeUnit.Beats, cache.Time);
        Assert.Equal(cache.Notes.Length, cache.Places!.Length);

        var maestro = CliRunner.Run("prepare", "--data", SharedData.MaestroSample, "--time", "beats", "--out", dir["cache"], "--quiet");
        Assert.Equal(2, maestro.ExitCode);
        Assert.Matches(@"only [\d.]+ % of the onsets lie on a 1/12-beat grid", maestro.Stderr);
    }
}
