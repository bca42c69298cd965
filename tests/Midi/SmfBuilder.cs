using System.Buffers.Binary;

namespace MusicGen.Tests.Midi;

/// <summary>
/// Builds Standard MIDI File bytes by hand, so tests can make well-formed and deliberately broken
/// files without copying any real corpus into the repository.
/// </summary>
public sealed class SmfBuilder
{
    readonly List<byte[]> _tracks = [];
    public int Format { get; set; } = 1;
    public int Division { get; set; } = 480;
    public int? DeclaredTracks { get; set; }

    /// <summary>Adds a raw track body (events already encoded, End of Track included by the caller or by <see cref="Track"/>).</summary>
    public SmfBuilder AddRawTrack(byte[] body) { _tracks.Add(body); return this; }

    public SmfBuilder AddTrack(Action<Track> build)
    {
        var t = new Track();
        build(t);
        _tracks.Add(t.Finish());
        return this;
    }

    public byte[] Build()
    {
        var ms = new MemoryStream();
        ms.Write("MThd"u8);
        WriteBE32(ms, 6);
        WriteBE16(ms, Format);
        WriteBE16(ms, DeclaredTracks ?? _tracks.Count);
        WriteBE16(ms, Division);
        foreach (var t in _tracks)
        {
            ms.Write("MTrk"u8);
            WriteBE32(ms, t.Length);
            ms.Write(t);
        }
        return ms.ToArray();
    }

    static void WriteBE32(Stream s, int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); s.Write(b); }
    static void WriteBE16(Stream s, int v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); s.Write(b); }

    /// <summary>Encodes events with delta times; every helper takes the delta in ticks since the previous event.</summary>
    public sealed class Track
    {
        readonly MemoryStream _ms = new();
        bool _ended;

        public static byte[] VarLen(int value)
        {
            var bytes = new List<byte> { (byte)(value & 0x7F) };
            while ((value >>= 7) > 0) bytes.Insert(0, (byte)(0x80 | (value & 0x7F)));
            return [.. bytes];
        }

        public Track Raw(params byte[] bytes) { _ms.Write(bytes); return this; }
        public Track Delta(int ticks) => Raw(VarLen(ticks));
        public Track On(int delta, int pitch, int velocity = 80, int channel = 0) => Delta(delta).Raw((byte)(0x90 | channel), (byte)pitch, (byte)velocity);
        public Track Off(int delta, int pitch, int channel = 0) => Delta(delta).Raw((byte)(0x80 | channel), (byte)pitch, 64);
        public Track Control(int delta, int controller, int value, int channel = 0) => Delta(delta).Raw((byte)(0xB0 | channel), (byte)controller, (byte)value);
        public Track Program(int delta, int program, int channel = 0) => Delta(delta).Raw((byte)(0xC0 | channel), (byte)program);
        public Track Tempo(int delta, int microsPerQuarter) => Delta(delta).Raw(0xFF, 0x51, 0x03, (byte)(microsPerQuarter >> 16), (byte)(microsPerQuarter >> 8), (byte)microsPerQuarter);
        public Track Meta(int delta, int type, byte[] data) => Delta(delta).Raw(0xFF, (byte)type).Raw(VarLen(data.Length)).Raw(data);
        public Track End(int delta = 0) { _ended = true; return Delta(delta).Raw(0xFF, 0x2F, 0x00); }

        internal byte[] Finish()
        {
            if (!_ended) End();
            return _ms.ToArray();
        }
    }
}
