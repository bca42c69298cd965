using MusicGen.Midi;

namespace MusicGen.Tests.Midi;

public class MidiWriterTests
{
    [Fact]
    public void Written_notes_read_back_the_same_to_within_one_tick()
    {
        var rng = new Random(7);
        var notes = new List<Note>();
        var keyFreeAt = new double[128]; // a key cannot sound twice at once: keep same-pitch notes apart
        double t = 0;
        while (notes.Count < 500)
        {
            t += rng.NextDouble() * 0.3;
            int pitch = rng.Next(21, 109);
            if (t < keyFreeAt[pitch]) continue;
            double end = t + 0.01 + rng.NextDouble();
            keyFreeAt[pitch] = end + 0.01;
            notes.Add(new Note(pitch, rng.Next(1, 128), t, end, 0, 0));
        }
        var options = new MidiWriteOptions { BeatsPerMinute = 97, TicksPerQuarter = 384 };
        double tick = 60.0 / 97 / 384;
        var path = Path.Combine(Path.GetTempPath(), $"mg-roundtrip-{Guid.NewGuid():N}.mid");
        try
        {
            MidiWriter.WriteFile(path, notes, options);
            var back = MidiReader.ReadFile(path);
            var expected = notes.OrderBy(n => n.Start).ThenBy(n => n.Pitch).ToList();
            Assert.Equal(expected.Count, back.Count);
            // Same multiset of notes; match each read note to the written one by (pitch, start) order.
            var sortedBack = back.OrderBy(n => n.Pitch).ThenBy(n => n.Start).ToList();
            var sortedIn = notes.OrderBy(n => n.Pitch).ThenBy(n => n.Start).ToList();
            for (int i = 0; i < sortedIn.Count; i++)
            {
                Assert.Equal(sortedIn[i].Pitch, sortedBack[i].Pitch);
                Assert.Equal(sortedIn[i].Velocity, sortedBack[i].Velocity);
                Assert.InRange(Math.Abs(sortedIn[i].Start - sortedBack[i].Start), 0, tick);
                Assert.InRange(Math.Abs(sortedIn[i].End - sortedBack[i].End), 0, tick);
                Assert.Equal(0, sortedBack[i].Program);
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Output_is_a_type_1_file_with_a_tempo_track_and_a_piano_track()
    {
        var ms = new MemoryStream();
        MidiWriter.Write(ms, [new Note(60, 100, 0, 1, 0, 0)]);
        var bytes = ms.ToArray();
        var layout = SmfScanner.Scan(bytes);
        Assert.Equal(1, layout.Format);
        Assert.Equal(2, layout.TrackCount);
        Assert.Equal(480, layout.TicksPerQuarter);
    }

    [Fact]
    public void A_file_ends_at_the_asked_end_or_at_its_last_note_off_when_that_is_later()
    {
        // Every track's end-of-track, in ticks, of a file of one note from 0 to 0.5 s at 120 bpm (960 ticks a second).
        static long[] TrackEnds(double? endSeconds)
        {
            var ms = new MemoryStream();
            MidiWriter.Write(ms, [new Note(60, 100, 0, 0.5, 0, 0)], new MidiWriteOptions { EndSeconds = endSeconds });
            var file = new NAudio.Midi.MidiFile(new MemoryStream(ms.ToArray()), strictChecking: true);
            return Enumerable.Range(0, file.Tracks).Select(t =>
            {
                var last = file.Events[t][^1];
                Assert.True(NAudio.Midi.MidiEvent.IsEndTrack(last));
                Assert.Single(file.Events[t], NAudio.Midi.MidiEvent.IsEndTrack);
                return last.AbsoluteTime;
            }).ToArray();
        }
        Assert.Equal([3840L, 3840L], TrackEnds(4));   // 4 s: both tracks end there, after a rest of 3.5 s
        Assert.Equal(480L, TrackEnds(0.2)[1]);       // earlier than the note-off: the notes' track ends at the note-off
        Assert.Equal(480L, TrackEnds(null)[1]);      // not asked: at the last note-off
    }

    [SharedDataFact]
    public void A_real_file_survives_read_write_read()
    {
        var path = Directory.GetFiles(SharedData.Pop909, "*.mid").Order().First();
        var read = MidiReader.ReadFile(path);
        // POP909's three tracks strike one key together at times: one piano part plays each such key once.
        var notes = MidiWriter.AsWritten(read);
        Assert.InRange(notes.Count, read.Count * 0.95, read.Count - 1);
        var ms = new MemoryStream();
        MidiWriter.Write(ms, read);
        var back = MidiReader.Read(ms.ToArray());
        Assert.Equal(notes.Count, back.Count);
        double tick = 0.5 / 480;
        for (int i = 0; i < notes.Count; i++)
        {
            Assert.Equal(notes[i].Pitch, back[i].Pitch);
            Assert.InRange(Math.Abs(notes[i].Start - back[i].Start), 0, tick);
            Assert.InRange(Math.Abs(notes[i].End - back[i].End), 0, tick);
        }
    }

    [Fact]
    public void Overlapping_and_duplicate_strikes_of_one_key_are_made_playable()
    {
        // 60 struck twice at once, struck again while sounding; 64 and 67 clean.
        Note[] notes =
        [
            new(60, 80, 0, 1, 0, 0), new(60, 90, 0, 0.5, 0, 0), new(60, 70, 0.75, 1.5, 0, 0),
            new(64, 80, 0, 0.5, 0, 0), new(64, 80, 0.5, 1, 0, 0), new(67, 80, 0.25, 2, 0, 0),
        ];
        var ms = new MemoryStream();
        MidiWriter.Write(ms, notes, new MidiWriteOptions { BeatsPerMinute = 120 });
        var bytes = ms.ToArray();
        var back = MidiReader.Read(bytes);
        Assert.Equal(
            [(60, 0.0, 0.75, 80), (60, 0.75, 1.5, 70), (64, 0.0, 0.5, 80), (64, 0.5, 1.0, 80), (67, 0.25, 2.0, 80)],
            back.Select(n => (n.Pitch, n.Start, n.End, n.Velocity)).OrderBy(x => x.Pitch).ThenBy(x => x.Start));
        Assert.Equal(back, MidiWriter.AsWritten(notes, new MidiWriteOptions { BeatsPerMinute = 120 }).OrderBy(n => n.Start).ThenBy(n => n.Pitch));

        // In the file: never a note-on on a key that sounds, and at one tick the offs first.
        var file = new NAudio.Midi.MidiFile(new MemoryStream(bytes), false);
        var sounding = new bool[128];
        long lastTick = -1; bool onSeenAtTick = false;
        foreach (var e in file.Events[1])
        {
            if (e.AbsoluteTime != lastTick) { lastTick = e.AbsoluteTime; onSeenAtTick = false; }
            if (e is NAudio.Midi.NoteEvent n && n.CommandCode == NAudio.Midi.MidiCommandCode.NoteOn && n.Velocity > 0)
            {
                Assert.False(sounding[n.NoteNumber], $"note-on on sounding key {n.NoteNumber} at tick {n.AbsoluteTime}");
                sounding[n.NoteNumber] = true; onSeenAtTick = true;
            }
            else if (e is NAudio.Midi.NoteEvent off && off.CommandCode is NAudio.Midi.MidiCommandCode.NoteOff or NAudio.Midi.MidiCommandCode.NoteOn)
            {
                Assert.False(onSeenAtTick, $"a note-off after a note-on at tick {off.AbsoluteTime}");
                sounding[off.NoteNumber] = false;
            }
        }
    }

    [Fact]
    public void Notes_in_beats_read_back_exactly_with_tempo_meter_key_and_marker()
    {
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 400).Select(i => new NoteRow(rng.Next(36, 90), i == 0 ? 0 : rng.Next(0, 13) / 12f, rng.Next(1, 25) / 12f, rng.Next(1, 128))).ToArray();
        var options = new MidiWriteOptions { BeatsPerMinute = 93, Meter = new Meter(0, 3, 4), Key = new MusicKey(2, true), Markers = [(1.5, "here")] };
        var notes = MidiWriter.AsWritten(BeatFeatures.ToNotes(rows, 93, startBeat: 1), options);
        var ms = new MemoryStream();
        MidiWriter.Write(ms, notes, options);
        var score = MidiReader.ReadScore(ms.ToArray());
        Assert.Equal(notes.Count, score.Notes.Count);
        for (int i = 0; i < notes.Count; i++)
        {
            Assert.Equal((notes[i].Pitch, notes[i].Velocity), (score.Notes[i].Pitch, score.Notes[i].Velocity));
            // Beats exactly on the grid: 40 ticks a grid unit at 480 PPQ.
            Assert.Equal(score.StartBeats[i] * 12, Math.Round(score.StartBeats[i] * 12), 9);
            Assert.Equal(notes[i].Start * 93 / 60, score.StartBeats[i], 9);
            Assert.Equal(notes[i].End * 93 / 60, score.EndBeats[i], 9);
        }
        Assert.Equal(93, score.MedianBpm(), 3);
        Assert.Equal(new Meter(0, 3, 4), score.Meters[0]);
        Assert.Equal((2 - 3, true), (score.Keys[0].SharpsFlats, score.Keys[0].Minor)); // D minor: one flat
    }
}
