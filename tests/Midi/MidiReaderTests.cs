using MusicGen.Midi;

namespace MusicGen.Tests.Midi;

public class MidiReaderTests
{
    const double Tick = 0.5 / 480; // seconds per tick at the default 120 bpm, 480 PPQ

    static List<Note> Read(SmfBuilder b, MidiReadOptions? o = null) => MidiReader.Read(b.Build(), o);

    [Fact]
    public void Format0_notes_have_pitch_velocity_and_times_in_seconds()
    {
        var b = new SmfBuilder { Format = 0 }.AddTrack(t => t.On(0, 60, 90).On(0, 64, 70).Off(480, 60).Off(480, 64));
        var notes = Read(b);
        Assert.Equal(2, notes.Count);
        Assert.Equal(new Note(60, 90, 0, 0.5, 0, 0), notes[0]);
        Assert.Equal(new Note(64, 70, 0, 1.0, 0, 0), notes[1]);
    }

    [Fact]
    public void Tempo_changes_are_applied_from_their_tick_on()
    {
        // 120 bpm for one beat (0.5 s), then 60 bpm (1 s per beat).
        var b = new SmfBuilder()
            .AddTrack(t => t.Tempo(0, 500_000).Tempo(480, 1_000_000))
            .AddTrack(t => t.On(0, 60).Off(480, 60).On(0, 62).Off(480, 62));
        var notes = Read(b);
        Assert.Equal(0.0, notes[0].Start, 9);
        Assert.Equal(0.5, notes[0].End, 9);
        Assert.Equal(0.5, notes[1].Start, 9);
        Assert.Equal(1.5, notes[1].End, 9);
    }

    [Fact]
    public void Ticks_per_quarter_of_any_size_are_honoured()
    {
        var b = new SmfBuilder { Division = 96 }.AddTrack(t => t.On(96, 60).Off(48, 60));
        var n = Assert.Single(Read(b));
        Assert.Equal(0.5, n.Start, 9);
        Assert.Equal(0.75, n.End, 9);
    }

    [Fact]
    public void Velocity_zero_note_on_ends_a_note()
    {
        var b = new SmfBuilder().AddTrack(t => t.On(0, 60).On(240, 60, velocity: 0));
        var n = Assert.Single(Read(b));
        Assert.Equal(240 * Tick, n.End, 9);
    }

    [Fact]
    public void Same_pitch_overlap_keeps_both_notes_and_off_ends_every_earlier_one()
    {
        // on@0, on@240, off@480: both notes end at 480 (pretty_midi's rule).
        var b = new SmfBuilder().AddTrack(t => t.On(0, 60).On(240, 60).Off(240, 60));
        var notes = Read(b);
        Assert.Equal(2, notes.Count);
        Assert.All(notes, n => Assert.Equal(480 * Tick, n.End, 9));
        Assert.Equal(240 * Tick, notes[1].Start, 9);
    }

    [Fact]
    public void On_and_off_at_the_same_tick_in_either_order_never_make_zero_length_notes()
    {
        // Repeated key: the next note-on comes before the previous note-off at tick 480.
        var b = new SmfBuilder().AddTrack(t => t.On(0, 60).On(480, 60).Off(0, 60).Off(480, 60));
        var notes = Read(b);
        Assert.Equal(2, notes.Count);
        Assert.Equal(480 * Tick, notes[0].End, 9);
        Assert.Equal(480 * Tick, notes[1].Start, 9);
        Assert.Equal(960 * Tick, notes[1].End, 9);
    }

    [Fact]
    public void A_note_never_turned_off_ends_at_end_of_track_and_one_starting_there_is_dropped()
    {
        var b = new SmfBuilder().AddTrack(t => t.On(0, 60).On(960, 62).End(0));
        var n = Assert.Single(Read(b));
        Assert.Equal(60, n.Pitch);
        Assert.Equal(960 * Tick, n.End, 9);
    }

    [Fact]
    public void Drums_are_left_out_by_default_and_kept_on_request()
    {
        var b = new SmfBuilder().AddTrack(t => t.On(0, 36, channel: 9).Off(100, 36, channel: 9).On(0, 60).Off(100, 60));
        Assert.Equal([60], Read(b).Select(n => n.Pitch));
        Assert.Equal([36, 60], Read(b, new MidiReadOptions { IncludeDrums = true }).Select(n => n.Pitch).Order());
    }

    [Fact]
    public void Program_and_channel_are_reported_even_when_the_program_change_is_in_another_track()
    {
        var b = new SmfBuilder().AddTrack(t => t.Program(0, 5, channel: 2)).AddTrack(t => t.On(10, 60, channel: 2).Off(10, 60, channel: 2));
        var n = Assert.Single(Read(b));
        Assert.Equal(2, n.Channel);
        Assert.Equal(5, n.Program);
    }

    [Fact]
    public void Sorted_by_start_then_pitch()
    {
        var b = new SmfBuilder().AddTrack(t => t.On(0, 67).On(0, 60).On(0, 64).Off(100, 60).Off(0, 64).Off(0, 67))
            .AddTrack(t => t.On(50, 55).Off(10, 55));
        Assert.Equal([60, 64, 67, 55], Read(b).Select(n => n.Pitch));
    }

    [Fact]
    public void Sustain_holds_released_notes_until_the_pedal_lifts_or_the_key_is_struck_again()
    {
        var b = new SmfBuilder().AddTrack(t => t
            .Control(0, 64, 127)          // pedal down at 0
            .On(0, 60).Off(240, 60)       // 60: released at 240 under the pedal
            .On(0, 62).Off(240, 62)       // 62: 240..480, held...
            .On(240, 62).Off(240, 62)     // ...until it is struck again at 720
            .Control(240, 64, 0)          // pedal up at 1200
            .On(0, 64).Off(240, 64));     // 64: after the pedal, untouched
        var plain = Read(b);
        var held = Read(b, new MidiReadOptions { Sustain = true });
        Assert.Equal(240 * Tick, plain.First(n => n.Pitch == 60).End, 9);
        Assert.Equal(1200 * Tick, held.First(n => n.Pitch == 60).End, 9);
        var sixtyTwos = held.Where(n => n.Pitch == 62).ToList();
        Assert.Equal(720 * Tick, sixtyTwos[0].End, 9);
        Assert.Equal(1200 * Tick, sixtyTwos[1].End, 9);
        Assert.Equal(1440 * Tick, held.First(n => n.Pitch == 64).End, 9);
    }

    [Fact]
    public void Format2_tracks_are_played_one_after_another()
    {
        var b = new SmfBuilder { Format = 2 }
            .AddTrack(t => t.On(0, 60).Off(480, 60))
            .AddTrack(t => t.Tempo(0, 1_000_000).On(0, 62).Off(480, 62));
        var notes = Read(b);
        Assert.Equal(0.5, notes[1].Start, 9);
        Assert.Equal(1.5, notes[1].End, 9);
    }

    [Fact]
    public void Smpte_division_is_converted_to_seconds()
    {
        // 25 frames/s x 40 ticks/frame = 1000 ticks per second.
        int division = ((256 - 25) << 8) | 40;
        var b = new SmfBuilder { Division = division }.AddTrack(t => t.Tempo(0, 1_000_000).On(1000, 60).Off(500, 60));
        var n = Assert.Single(Read(b));
        Assert.Equal(1.0, n.Start, 9);
        Assert.Equal(1.5, n.End, 9);
    }

    [Fact]
    public void Rmid_riff_wrapper_is_unwrapped()
    {
        var smf = new SmfBuilder().AddTrack(t => t.On(0, 60).Off(480, 60)).Build();
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        w.Write("RIFF"u8); w.Write(4 + 8 + smf.Length); w.Write("RMID"u8);
        w.Write("data"u8); w.Write(smf.Length); w.Write(smf);
        var n = Assert.Single(MidiReader.Read(ms.ToArray()));
        Assert.Equal(60, n.Pitch);
    }

    [Fact]
    public void Unknown_chunks_between_tracks_are_skipped()
    {
        var smf = new SmfBuilder().AddTrack(t => t.On(0, 60).Off(480, 60)).Build();
        // Insert an alien chunk "XFIH" with 4 bytes right after the header (14 bytes).
        byte[] alien = [.. "XFIH"u8, 0, 0, 0, 4, 1, 2, 3, 4];
        var bytes = smf[..14].Concat(alien).Concat(smf[14..]).ToArray();
        Assert.Single(MidiReader.Read(bytes));
    }

    [Fact]
    public void Features_are_pitch_step_duration_velocity_with_first_step_zero()
    {
        var notes = new List<Note> { new(60, 80, 1.0, 1.5, 0, 0), new(64, 70, 1.0, 2.0, 0, 0), new(67, 60, 1.25, 1.5, 0, 0) };
        var rows = NoteFeatures.FromNotes(notes);
        Assert.Equal(new NoteRow(60, 0, 0.5f, 80), rows[0]);
        Assert.Equal(new NoteRow(64, 0, 1.0f, 70), rows[1]);
        Assert.Equal(new NoteRow(67, 0.25f, 0.25f, 60), rows[2]);
    }
}
