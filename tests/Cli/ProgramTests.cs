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

    [Theory]
    [InlineData("generate", "generat", 1)]
    [InlineData("train", "train", 0)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    public void Edit_distance_counts_single_letter_edits(string a, string b, int expected) =>
        Assert.Equal(expected, MusicGen.Cli.Program.EditDistance(a, b));
}
