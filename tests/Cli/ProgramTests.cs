namespace MusicGen.Tests.Cli;

/// <summary>The root command: an unknown verb is named, with the nearest real one when there is one.</summary>
public class ProgramTests
{
    [Fact]
    public void An_unknown_command_is_named_with_a_suggestion()
    {
        var typo = CliRunner.Run("generat", "--notes", "5");
        Assert.Equal(2, typo.ExitCode);
        Assert.Contains("unknown command 'generat'; did you mean 'generate'?", typo.Stderr);
        Assert.Single(typo.Stderr.Trim().Split('\n'));
        var far = CliRunner.Run("compose");
        Assert.Equal(2, far.ExitCode);
        Assert.Contains("unknown command 'compose' (commands: generate,", far.Stderr);
        Assert.DoesNotContain("did you mean", far.Stderr);
    }

    [Fact]
    public void An_unknown_option_is_named_with_the_help_of_the_command_it_was_given_to()
    {
        var root = CliRunner.Run("--bogus");
        Assert.Equal(2, root.ExitCode);
        Assert.Equal("musicgen: error: Unrecognized command or argument '--bogus'. (see `musicgen --help`)", root.Stderr.Trim());
        var nested = CliRunner.Run("frames", "evaluate", "--bogus");
        Assert.Equal(2, nested.ExitCode);
        Assert.Contains("(see `musicgen frames evaluate --help`)", nested.Stderr);
    }

    [Theory]
    [InlineData("generate", "generat", 1)]
    [InlineData("train", "train", 0)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    public void Edit_distance_counts_single_letter_edits(string a, string b, int expected) =>
        Assert.Equal(expected, MusicGen.Cli.Program.EditDistance(a, b));

    [Fact]
    public void Bad_input_exits_2_and_a_broken_invariant_exits_70_as_an_internal_error()
    {
        Assert.Equal(2, MusicGen.Cli.Cli.Run(() => throw new ArgumentException("--x must be positive")));
        Assert.Equal(2, MusicGen.Cli.Cli.Run(() => throw new FormatException("key 'H': ...")));
        Assert.Equal(70, MusicGen.Cli.Cli.Run(() => throw new ArgumentOutOfRangeException("t", "Adam steps count from 1")));
        Assert.Equal(70, MusicGen.Cli.Cli.Run(() => throw new ArgumentNullException("x")));
        Assert.Equal(70, MusicGen.Cli.Cli.Run(() => throw new InvalidOperationException("a bug")));
    }
}
