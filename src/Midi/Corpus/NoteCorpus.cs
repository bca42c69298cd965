using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace MusicGen.Midi.Corpus;

/// <summary>A file whose notes are in the corpus: its identity (path, size, mtime), split and slice of <see cref="NoteCorpus.Notes"/>.</summary>
/// <param name="Bpm">Beats-mode corpora: the file's median tempo at its onsets (0 in seconds mode).</param>
/// <param name="OnGrid">Beats-mode corpora: the fraction of the file's onsets on the beat grid (<see cref="BeatFeatures.OnGridFraction"/>; NaN in seconds mode).</param>
public sealed record CorpusEntry(string RelativePath, Split Split, long Size, long ModifiedTicks, long FirstNote, int NoteCount, float Seconds, float Bpm = 0, float OnGrid = float.NaN);

/// <summary>A file that was skipped, with the one-line reason (kept so an unchanged bad file is not parsed again).</summary>
public sealed record SkippedEntry(string RelativePath, long Size, long ModifiedTicks, string Reason);

/// <summary>
/// A prepared corpus: feature rows of every usable file, back to back, plus the per-file index.
///
/// On disk (".mgcache", little-endian):
/// <code>
/// header, 96 bytes: "MGNOTES\0" | u32 version | u32 flags (1 sustain, 2 drums, 4 beats) | u64 payload hash (XxHash3)
///                   | i64 payload length | i32 files | i32 skipped | i64 notes | i64 notes offset
///                   | u64 header hash (XxHash3 of bytes 0..56) | 32 zero bytes
/// payload:          string root | string kind | files x (string path, u8 split, i64 size, i64 mtime, i64 first, i32 count, f32 seconds,
///                   f32 bpm, f32 on-grid fraction) | skipped x (string path, i64 size, i64 mtime, string reason) | zero padding to 16
///                   | notes x NoteRow (4 x f32: pitch, step, duration, velocity)
///                   | beats mode only: notes x BarPlace (2 x f32: position in the bar, beats per bar)
/// string:           u16 byte length + UTF-8
/// </code>
/// Every count and offset is checked against the file's real length before anything is allocated,
/// and the payload hash is verified, so a truncated or corrupted cache is refused, never read as garbage.
/// Version 1 (no bpm, no on-grid fraction, no beats mode) still loads.
/// In beats mode (<see cref="Time"/>) step and duration are quarter-note beats on the grid of <see cref="BeatFeatures"/>.
/// </summary>
public sealed class NoteCorpus
{
    public const int FormatVersion = 2;
    const int HeaderSize = 96;
    static ReadOnlySpan<byte> Magic => "MGNOTES\0"u8;

    public required string Root { get; init; }
    public required string Kind { get; init; }
    public required bool Sustain { get; init; }
    public required bool IncludeDrums { get; init; }
    public required IReadOnlyList<CorpusEntry> Files { get; init; }
    public required IReadOnlyList<SkippedEntry> Skipped { get; init; }
    public required NoteRow[] Notes { get; init; }
    /// <summary>The unit of every row's step and duration: seconds, or beats on the grid.</summary>
    public TimeUnit Time { get; init; } = TimeUnit.Seconds;
    /// <summary>Beats mode: each note's place in its bar, index for index with <see cref="Notes"/>; null in seconds mode.</summary>
    public BarPlace[]? Places { get; init; }

    public ReadOnlySpan<NoteRow> NotesOf(CorpusEntry file) => Notes.AsSpan(checked((int)file.FirstNote), file.NoteCount);
    public ReadOnlySpan<BarPlace> PlacesOf(CorpusEntry file) => Places is null ? default : Places.AsSpan(checked((int)file.FirstNote), file.NoteCount);

    /// <summary>Beats mode: the fraction of all onsets that lie on the beat grid (NaN in seconds mode).</summary>
    public double OnGridFraction => Time != TimeUnit.Beats || Files.Count == 0 ? double.NaN
        : Files.Sum(f => (double)f.OnGrid * f.NoteCount) / Math.Max(1, Files.Sum(f => (long)f.NoteCount));

    /// <summary>Beats mode: the median tempo of the training files (120 when there are none, or in seconds mode).</summary>
    public double MedianBpm()
    {
        var t = Files.Where(f => f.Split == Split.Train && f.Bpm > 0).Select(f => (double)f.Bpm).Order().ToArray();
        return t.Length == 0 ? 120 : t[t.Length / 2];
    }

    public double Hours => Files.Sum(f => (double)f.Seconds) / 3600;

    /// <summary>
    /// Several corpora as one (for training on a mixed collection): every file keeps its own split, so each corpus'
    /// held-out files stay held out; relative paths are prefixed with the part's name ("asap/Bach/...").
    /// </summary>
    public static NoteCorpus Merge(IReadOnlyList<(string Name, NoteCorpus Corpus)> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("nothing to merge");
        if (parts.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count() != parts.Count) throw new ArgumentException("merged corpora need distinct names");
        var time = parts[0].Corpus.Time;
        if (parts.Any(p => p.Corpus.Time != time)) throw new ArgumentException("merged corpora need one time mode (all seconds or all beats)");
        var files = new List<CorpusEntry>();
        var skipped = new List<SkippedEntry>();
        // Each listed file's notes, copied one after another (a part may list fewer files than its notes array holds).
        var notes = new NoteRow[checked(parts.Sum(p => p.Corpus.Files.Sum(f => (long)f.NoteCount)))];
        var places = time == TimeUnit.Beats ? new BarPlace[notes.Length] : null;
        long offset = 0;
        foreach (var (name, c) in parts)
        {
            foreach (var f in c.Files)
            {
                c.NotesOf(f).CopyTo(notes.AsSpan(checked((int)offset), f.NoteCount));
                if (places is not null) c.PlacesOf(f).CopyTo(places.AsSpan(checked((int)offset), f.NoteCount));
                files.Add(f with { RelativePath = $"{name}/{f.RelativePath}", FirstNote = offset });
                offset += f.NoteCount;
            }
            foreach (var k in c.Skipped) skipped.Add(k with { RelativePath = $"{name}/{k.RelativePath}" });
        }
        return new NoteCorpus
        {
            Root = string.Join(" + ", parts.Select(p => p.Corpus.Root)), Kind = "merged (" + string.Join(", ", parts.Select(p => p.Name)) + ")",
            Sustain = parts.All(p => p.Corpus.Sustain), IncludeDrums = parts.Any(p => p.Corpus.IncludeDrums),
            Files = files, Skipped = skipped, Notes = notes, Time = time, Places = places,
        };
    }

    // ------------------------------------------------------------------ writing

    /// <summary>Writes the cache atomically (temp file + rename).</summary>
    public void Save(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the corpus cache is little-endian");
        if (Time == TimeUnit.Beats && Places?.Length != Notes.Length) throw new InvalidOperationException("a beats-mode corpus needs a bar place per note");
        var index = new MemoryStream();
        using (var w = new BinaryWriter(index, Encoding.UTF8, leaveOpen: true))
        {
            WriteString(w, Root);
            WriteString(w, Kind);
            foreach (var f in Files)
            {
                WriteString(w, f.RelativePath);
                w.Write((byte)f.Split); w.Write(f.Size); w.Write(f.ModifiedTicks); w.Write(f.FirstNote); w.Write(f.NoteCount); w.Write(f.Seconds);
                w.Write(f.Bpm); w.Write(f.OnGrid);
            }
            foreach (var s in Skipped)
            {
                WriteString(w, s.RelativePath);
                w.Write(s.Size); w.Write(s.ModifiedTicks);
                WriteString(w, s.Reason);
            }
            while ((HeaderSize + index.Length) % 16 != 0) w.Write((byte)0);
        }
        var indexBytes = index.GetBuffer().AsSpan(0, (int)index.Length);
        var noteBytes = MemoryMarshal.AsBytes(Notes.AsSpan());
        var placeBytes = Time == TimeUnit.Beats ? MemoryMarshal.AsBytes(Places.AsSpan()).ToArray() : [];

        var hash = new XxHash3();
        hash.Append(indexBytes);
        hash.Append(noteBytes);
        hash.Append(placeBytes);

        var header = new byte[HeaderSize];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (Sustain ? 1u : 0) | (IncludeDrums ? 2u : 0) | (Time == TimeUnit.Beats ? 4u : 0));
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), hash.GetCurrentHashAsUInt64());
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), indexBytes.Length + (long)noteBytes.Length + placeBytes.Length);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(32), Files.Count);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(36), Skipped.Count);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(40), Notes.LongLength);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(48), HeaderSize + indexBytes.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(56), XxHash3.HashToUInt64(header.AsSpan(0, 56)));

        var indexArray = indexBytes.ToArray();
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            stream.Write(indexArray);
            stream.Write(MemoryMarshal.AsBytes(Notes.AsSpan()));
            stream.Write(placeBytes);
        });
    }

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > ushort.MaxValue) throw new ArgumentException("string too long for the cache");
        w.Write((ushort)bytes.Length);
        w.Write(bytes);
    }

    // ------------------------------------------------------------------ reading

    /// <summary>Loads a cache with two bulk reads (index, then notes straight into the row array). Throws <see cref="InvalidDataException"/> with a reason when it is not a valid cache of this version.</summary>
    public static NoteCorpus Load(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return Load(stream);
    }

    /// <summary>Reads a cache from a seekable stream (a file, or the fuzzer's bytes).</summary>
    public static NoteCorpus Load(Stream stream)
    {
        long fileLength = stream.Length;
        Span<byte> header = stackalloc byte[HeaderSize];
        if (fileLength < HeaderSize || stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize)
            throw new InvalidDataException("too short to be a MusicGen corpus cache");
        if (!header[..8].SequenceEqual(Magic)) throw new InvalidDataException("not a MusicGen corpus cache (bad magic)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version is not (1 or FormatVersion)) throw new InvalidDataException($"cache format version {version}, this build reads versions 1 and {FormatVersion}");
        if (BinaryPrimitives.ReadUInt64LittleEndian(header[56..]) != XxHash3.HashToUInt64(header[..56]))
            throw new InvalidDataException("corrupted cache header (checksum mismatch)");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        ulong payloadHash = BinaryPrimitives.ReadUInt64LittleEndian(header[16..]);
        long payloadLength = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        int fileCount = BinaryPrimitives.ReadInt32LittleEndian(header[32..]);
        int skippedCount = BinaryPrimitives.ReadInt32LittleEndian(header[36..]);
        long noteCount = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
        long notesOffset = BinaryPrimitives.ReadInt64LittleEndian(header[48..]);
        int rowSize = Marshal.SizeOf<NoteRow>();
        bool beats = version >= 2 && (flags & 4) != 0;
        int placeSize = beats ? Marshal.SizeOf<BarPlace>() : 0;
        if (payloadLength != fileLength - HeaderSize) throw new InvalidDataException($"truncated cache: header says {payloadLength + HeaderSize} bytes, file has {fileLength}");
        if (fileCount < 0 || skippedCount < 0 || noteCount < 0 || noteCount > int.MaxValue || notesOffset < HeaderSize || notesOffset % 16 != 0
            || notesOffset + noteCount * (rowSize + placeSize) != fileLength)
            throw new InvalidDataException("corrupted cache header (inconsistent sizes)");

        var indexBytes = new byte[notesOffset - HeaderSize];
        stream.ReadExactly(indexBytes);
        var notes = GC.AllocateUninitializedArray<NoteRow>((int)noteCount);
        stream.ReadExactly(MemoryMarshal.AsBytes(notes.AsSpan()));
        var places = beats ? GC.AllocateUninitializedArray<BarPlace>((int)noteCount) : null;
        if (places is not null) stream.ReadExactly(MemoryMarshal.AsBytes(places.AsSpan()));
        var hash = new XxHash3();
        hash.Append(indexBytes);
        hash.Append(MemoryMarshal.AsBytes(notes.AsSpan()));
        if (places is not null) hash.Append(MemoryMarshal.AsBytes(places.AsSpan()));
        if (hash.GetCurrentHashAsUInt64() != payloadHash) throw new InvalidDataException("corrupted cache (checksum mismatch)");

        var r = new SpanReader(indexBytes);
        string root = r.String(), kind = r.String();
        var files = new List<CorpusEntry>(Math.Min(fileCount, indexBytes.Length / 31));
        long expectedFirst = 0;
        for (int i = 0; i < fileCount; i++)
        {
            var e = new CorpusEntry(r.String(), (Split)r.Byte(), r.Int64(), r.Int64(), r.Int64(), r.Int32(), r.Single());
            if (version >= 2) e = e with { Bpm = r.Single(), OnGrid = r.Single() };
            if ((byte)e.Split > 2 || e.FirstNote != expectedFirst || e.NoteCount < 0) throw new InvalidDataException("corrupted cache index");
            expectedFirst += e.NoteCount;
            files.Add(e);
        }
        if (expectedFirst != noteCount) throw new InvalidDataException("corrupted cache index (note counts do not add up)");
        var skipped = new List<SkippedEntry>(Math.Min(skippedCount, indexBytes.Length / 20));
        for (int i = 0; i < skippedCount; i++) skipped.Add(new SkippedEntry(r.String(), r.Int64(), r.Int64(), r.String()));

        return new NoteCorpus
        {
            Root = root, Kind = kind, Sustain = (flags & 1) != 0, IncludeDrums = (flags & 2) != 0,
            Files = files, Skipped = skipped, Notes = notes, Time = beats ? TimeUnit.Beats : TimeUnit.Seconds, Places = places,
        };
    }

    /// <summary>Bounds-checked reader over the index bytes; any overrun is a corrupted cache.</summary>
    ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> _data = data;
        int _pos;

        ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > _data.Length - _pos) throw new InvalidDataException("corrupted cache index (overrun)");
            var s = _data.Slice(_pos, n);
            _pos += n;
            return s;
        }

        public byte Byte() => Take(1)[0];
        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        public float Single() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));
        public string String() => Encoding.UTF8.GetString(Take(BinaryPrimitives.ReadUInt16LittleEndian(Take(2))));
    }
}
