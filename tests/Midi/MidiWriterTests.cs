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

    [SharedDataFact]
    public void A_real_file_survives_read_write_read()
    {
        var path = Directory.GetFiles(SharedData.Pop909, "*.mid").Order().First();
        var notes = MidiReader.ReadFile(path);
        var ms = new MemoryStream();
        MidiWriter.Write(ms, notes);
        var back = MidiReader.Read(ms.ToArray());
        Assert.Equal(notes.Count, back.Count);
        double tick = 0.5 / 480;
        for (int i = 0; i < notes.Count; i++)
        {
            Assert.Equal(notes[i].Pitch, back[i].Pitch);
            Assert.InRange(Math.Abs(notes[i].Start - back[i].Start), 0, tick);
        }
    }
}
