using MusicGen.Midi;

namespace MusicGen.Tests.Midi;

/// <summary>
/// Every kind of broken file gives a <see cref="MidiFormatException"/> with a reason: never another
/// exception, a hang, or a huge allocation. The files are built here, byte by byte.
/// </summary>
public class MalformedMidiTests
{
    static byte[] Good() => new SmfBuilder().AddTrack(t => t.On(0, 60).Off(480, 60)).Build();

    static string Reason(byte[] bytes)
    {
        var e = Assert.Throws<MidiFormatException>(() => MidiReader.Read(bytes));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact] public void Zero_bytes() => Assert.Contains("empty", Reason([]));

    [Fact]
    public void A_maximal_delta_time_is_implausible_timing_not_a_77_hour_note()
    {
        // 0x0FFFFFFF ticks at 480 per quarter and 120 bpm: a note of about 77.7 hours.
        var bytes = new SmfBuilder().AddTrack(t => t.On(0, 60).Off(0x0FFFFFFF, 60)).Build();
        Assert.Contains("implausible timing", Reason(bytes));
        // An ordinary long note (a minute) is fine.
        Assert.Single(MidiReader.Read(new SmfBuilder().AddTrack(t => t.On(0, 60).Off(480 * 120, 60)).Build()));
    }

    [Fact] public void Text_file_with_a_mid_name() => Assert.Contains("not a MIDI file", Reason("hello, I am not music\n"u8.ToArray()));

    [Fact] public void Truncated_header() => Assert.Contains("header", Reason(Good()[..10]));

    [Fact]
    public void Truncated_track()
    {
        var good = Good();
        Assert.Contains("truncated", Reason(good[..(good.Length - 5)]));
    }

    [Fact]
    public void Chunk_length_past_the_end_of_the_file()
    {
        var bytes = Good();
        bytes[18] = 0x7F; // MTrk length high byte: ~2 GB
        Assert.Contains("remain", Reason(bytes));
    }

    [Fact]
    public void Missing_tracks_that_the_header_promises()
    {
        var b = new SmfBuilder { DeclaredTracks = 3 }.AddTrack(t => t.On(0, 60).Off(10, 60));
        Assert.Contains("declares 3 tracks", Reason(b.Build()));
    }

    [Fact]
    public void Lying_meta_event_length()
    {
        // A text meta event claiming 0x0FFFFFFF bytes inside a 20-byte track.
        var b = new SmfBuilder().AddRawTrack([0x00, 0xFF, 0x01, 0xFF, 0xFF, 0xFF, 0x7F, (byte)'h', (byte)'i', 0x00, 0xFF, 0x2F, 0x00]);
        Assert.Contains("meta event", Reason(b.Build()));
    }

    [Fact]
    public void Lying_sysex_length()
    {
        var b = new SmfBuilder().AddRawTrack([0x00, 0xF0, 0xFF, 0xFF, 0x7F, 0x43, 0x10, 0xF7, 0x00, 0xFF, 0x2F, 0x00]);
        Assert.Contains("sysex", Reason(b.Build()));
    }

    [Fact]
    public void Over_long_variable_length_number()
    {
        var b = new SmfBuilder().AddRawTrack([0x81, 0x81, 0x81, 0x81, 0x01, 0x90, 60, 80, 0x00, 0xFF, 0x2F, 0x00]);
        Assert.Contains("over-long", Reason(b.Build()));
    }

    [Fact]
    public void Running_status_with_no_status()
    {
        var b = new SmfBuilder().AddRawTrack([0x00, 60, 80, 0x00, 0xFF, 0x2F, 0x00]);
        Assert.Contains("running status", Reason(b.Build()));
    }

    [Fact]
    public void Data_byte_over_127()
    {
        var b = new SmfBuilder().AddRawTrack([0x00, 0x90, 60, 200, 0x00, 0xFF, 0x2F, 0x00]);
        Assert.Contains("over 127", Reason(b.Build()));
    }

    [Fact]
    public void A_complete_track_without_end_of_track_is_read_as_mido_and_pretty_midi_read_it()
    {
        // Every event intact and the chunk length consistent, but no End of Track: the notes are kept.
        var notes = MidiReader.Read(new SmfBuilder().AddRawTrack([0x00, 0x90, 60, 80, 0x83, 0x60, 0x80, 60, 0, 0x00, 0x90, 62, 80, 0x83, 0x60, 0x80, 62, 0]).Build());
        Assert.Equal([60, 62], notes.Select(n => n.Pitch));
        Assert.Equal(0.5, notes[0].End - notes[0].Start, 6); // 480 ticks at 120 bpm
        // Cut inside an event it is still refused, and an empty track is no track.
        Assert.Contains("truncated", Reason(new SmfBuilder().AddRawTrack([0x00, 0x90, 60, 80, 0x10, 0x80, 60]).Build()));
        Assert.Contains("empty", Reason(new SmfBuilder().AddRawTrack([]).Build()));
    }

    [Fact]
    public void Division_of_zero() => Assert.Contains("division of 0", Reason(new SmfBuilder { Division = 0 }.AddTrack(t => t.On(0, 60).Off(1, 60)).Build()));

    [Fact]
    public void Tempo_of_zero() => Assert.Contains("tempo of 0", Reason(new SmfBuilder().AddTrack(t => t.Tempo(0, 0).On(0, 60).Off(1, 60)).Build()));

    [Fact]
    public void Unknown_format() => Assert.Contains("format", Reason(new SmfBuilder { Format = 7 }.AddTrack(t => t.On(0, 60).Off(1, 60)).Build()));

    [Fact]
    public void Bad_smpte_frame_rate()
    {
        int division = ((256 - 23) << 8) | 40;
        Assert.Contains("SMPTE", Reason(new SmfBuilder { Division = division }.AddTrack(t => t.On(0, 60).Off(1, 60)).Build()));
    }

    [Fact]
    public void Status_byte_not_allowed_in_a_file() =>
        Assert.Contains("not allowed", Reason(new SmfBuilder().AddRawTrack([0x00, 0xF8, 0x00, 0xFF, 0x2F, 0x00]).Build()));

    [Fact]
    public void Ten_thousand_simultaneous_notes_are_rejected_quickly()
    {
        var b = new SmfBuilder().AddTrack(t =>
        {
            for (int i = 0; i < 10_000; i++) t.On(0, i % 128, channel: i / 128 % 16 == 9 ? 0 : i / 128 % 16);
            for (int i = 0; i < 128; i++) t.Off(1, i);
        });
        Assert.Contains("sounding at once", Reason(b.Build()));
    }

    [Fact]
    public void Many_simultaneous_notes_within_the_limit_are_read()
    {
        var b = new SmfBuilder().AddTrack(t =>
        {
            for (int i = 0; i < 1000; i++) t.On(0, i % 128);
            for (int i = 0; i < 128; i++) t.Off(1, i);
        });
        Assert.Equal(1000, MidiReader.Read(b.Build()).Count);
    }

    [SharedDataFact]
    public void Random_corruptions_of_a_real_file_never_escape_as_other_exceptions()
    {
        var path = Directory.GetFiles(SharedData.Pop909, "*.mid").Order().First();
        var original = File.ReadAllBytes(path);
        var rng = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            var bytes = (byte[])original.Clone();
            int flips = 1 + rng.Next(8);
            for (int i = 0; i < flips; i++) bytes[rng.Next(Math.Min(bytes.Length, 4096))] = (byte)rng.Next(256);
            if (rng.Next(4) == 0) bytes = bytes[..rng.Next(bytes.Length)];
            try { MidiReader.Read(bytes); }
            catch (MidiFormatException) { }
        }
    }

    [Fact]
    public void Unreadable_file_is_a_reason_not_a_crash()
    {
        var e = Assert.Throws<MidiFormatException>(() => MidiReader.ReadFile(Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid(), "x.mid")));
        Assert.Contains("unreadable", e.Message);
    }
}
