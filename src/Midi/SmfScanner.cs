using System.Buffers.Binary;

namespace MusicGen.Midi;

/// <summary>What the structural scan learned about a Standard MIDI File.</summary>
/// <param name="Format">0, 1 or 2.</param>
/// <param name="TrackCount">Number of MTrk chunks actually present (and validated).</param>
/// <param name="Division">The raw 16-bit time division word from the header.</param>
/// <param name="SmfOffset">Where the SMF ("MThd") starts inside the bytes given (non-zero for RIFF/RMID).</param>
/// <param name="SmfLength">Length of the SMF bytes (the RMID "data" chunk, or the rest of the file).</param>
/// <param name="HasAlienChunks">True when chunks other than MThd/MTrk sit among the tracks (see <see cref="SmfScanner.StripAlienChunks"/>).</param>
public readonly record struct SmfLayout(int Format, int TrackCount, int Division, int SmfOffset, int SmfLength, bool HasAlienChunks, bool MissingEndOfTrack = false)
{
    /// <summary>True when the division is SMPTE frames x ticks-per-frame rather than ticks per quarter note.</summary>
    public bool IsSmpte => (Division & 0x8000) != 0;

    /// <summary>Ticks per quarter note (metrical division only).</summary>
    public int TicksPerQuarter => Division & 0x7FFF;

    /// <summary>Seconds per tick for an SMPTE division (frames/s x ticks/frame; 29 means 29.97 drop-frame).</summary>
    public double SmpteSecondsPerTick
    {
        get
        {
            int fps = -(sbyte)(Division >> 8);
            int ticksPerFrame = Division & 0xFF;
            double framesPerSecond = fps == 29 ? 30000.0 / 1001.0 : fps;
            return 1.0 / (framesPerSecond * ticksPerFrame);
        }
    }
}

/// <summary>
/// A strict structural pass over the raw bytes of a MIDI file, run before NAudio parses it.
/// Every length field (chunk, meta, sysex, variable-length number) is checked against the bytes
/// actually present, so no parser downstream ever allocates a buffer sized by a lying length,
/// reads past a chunk, or loops forever. It allocates nothing and is a single linear walk.
/// Each failure is a <see cref="MidiFormatException"/> whose message is the per-file reason.
/// </summary>
public static class SmfScanner
{
    /// <summary>Validates <paramref name="data"/> and returns where the SMF lies and what it holds.</summary>
    public static SmfLayout Scan(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) throw new MidiFormatException("empty file (0 bytes)");
        int smfOffset = 0, smfLength = data.Length;
        if (StartsWith(data, "RIFF"u8)) (smfOffset, smfLength) = UnwrapRiff(data);
        var smf = data.Slice(smfOffset, smfLength);

        if (smf.Length < 14 || !StartsWith(smf, "MThd"u8))
            throw new MidiFormatException(smf.Length < 4 || !StartsWith(smf, "MThd"u8)
                ? "not a MIDI file (no MThd header)"
                : "truncated MIDI header");
        uint headerLength = BinaryPrimitives.ReadUInt32BigEndian(smf[4..]);
        if (headerLength < 6) throw new MidiFormatException($"MIDI header length {headerLength} is shorter than 6");
        if (headerLength > (uint)(smf.Length - 8)) throw new MidiFormatException($"MIDI header length {headerLength} runs past the end of the file");
        int format = BinaryPrimitives.ReadUInt16BigEndian(smf[8..]);
        int declaredTracks = BinaryPrimitives.ReadUInt16BigEndian(smf[10..]);
        int division = BinaryPrimitives.ReadUInt16BigEndian(smf[12..]);
        if (format > 2) throw new MidiFormatException($"unknown MIDI format {format}");
        if (division == 0) throw new MidiFormatException("time division of 0 ticks per quarter note");
        if ((division & 0x8000) != 0)
        {
            int fps = -(sbyte)(division >> 8);
            if (fps is not (24 or 25 or 29 or 30)) throw new MidiFormatException($"SMPTE division with {fps} frames per second (only 24, 25, 29.97, 30 exist)");
            if ((division & 0xFF) == 0) throw new MidiFormatException("SMPTE division with 0 ticks per frame");
        }
        if (declaredTracks == 0) throw new MidiFormatException("the header declares 0 tracks");

        int pos = 8 + (int)headerLength;
        int tracks = 0;
        bool alien = false, missingEnd = false;
        while (tracks < declaredTracks)
        {
            if (pos == smf.Length)
                throw new MidiFormatException($"truncated: the header declares {declaredTracks} tracks but the file holds {tracks}");
            if (smf.Length - pos < 8) throw new MidiFormatException($"truncated chunk header at byte {pos}");
            var id = smf.Slice(pos, 4);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(smf[(pos + 4)..]);
            if (length > (uint)(smf.Length - pos - 8))
                throw new MidiFormatException($"chunk at byte {pos} declares {length} bytes but only {smf.Length - pos - 8} remain (truncated or corrupt)");
            if (StartsWith(id, "MTrk"u8))
            {
                if (!ScanTrack(smf.Slice(pos + 8, (int)length), tracks)) missingEnd = true;
                tracks++;
            }
            else if (!IsPrintableId(id))
            {
                throw new MidiFormatException($"garbage where chunk {tracks + 1} should start (byte {pos})");
            }
            else alien = true; // alien chunks with a printable id are skipped, as the SMF specification asks
            pos += 8 + (int)length;
        }
        return new SmfLayout(format, tracks, division, smfOffset, smfLength, alien, missingEnd);
    }

    /// <summary>
    /// A copy of an already scanned SMF holding only its header and MTrk chunks (NAudio stops at any
    /// other chunk). Lengths are trusted here because <see cref="Scan"/> has checked them.
    /// </summary>
    public static byte[] StripAlienChunks(ReadOnlySpan<byte> smf) => Normalize(smf);

    /// <summary>
    /// The file as the parser should see it: only MTrk chunks after the header (alien chunks dropped), and every track
    /// ending with End of Track (added, with the chunk length fixed, where a complete track lacks it). Only for bytes
    /// that <see cref="Scan"/> accepted.
    /// </summary>
    public static byte[] Normalize(ReadOnlySpan<byte> smf)
    {
        var output = new MemoryStream(smf.Length + 16);
        int pos = 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(smf[4..]);
        output.Write(smf[..pos]);
        Span<byte> header = stackalloc byte[8];
        while (smf.Length - pos >= 8)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(smf[(pos + 4)..]);
            if (StartsWith(smf[pos..], "MTrk"u8))
            {
                var body = smf.Slice(pos + 8, length);
                bool ended = EndsWithEndOfTrack(body);
                smf.Slice(pos, 4).CopyTo(header);
                BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)(length + (ended ? 0 : 4)));
                output.Write(header);
                output.Write(body);
                if (!ended) output.Write([0x00, 0xFF, 0x2F, 0x00]); // delta 0, End of Track
            }
            pos += 8 + length;
        }
        return output.ToArray();
    }

    static bool EndsWithEndOfTrack(ReadOnlySpan<byte> body)
    {
        try { return ScanTrack(body, 0); }
        catch (MidiFormatException) { return true; } // not ours to repair: leave it as it was
    }

    /// <summary>
    /// Walks one MTrk body event by event, checking every length and data byte. Returns false for a track whose
    /// events are all complete and fill its chunk exactly but which has no End of Track event: such a track is read
    /// (as mido and pretty_midi read it), its End of Track supplied by <see cref="Normalize"/>.
    /// </summary>
    static bool ScanTrack(ReadOnlySpan<byte> track, int trackIndex)
    {
        int pos = 0;
        int runningStatus = 0;
        while (pos < track.Length)
        {
            ReadVarLen(track, ref pos, trackIndex, "delta time");
            if (pos >= track.Length) throw Fail(trackIndex, "ends inside an event (truncated)");
            int status = track[pos];
            if (status < 0x80)
            {
                if (runningStatus == 0) throw Fail(trackIndex, $"running status with no previous status byte at offset {pos}");
                status = runningStatus; // the byte at pos is the first data byte
            }
            else
            {
                pos++;
            }

            if (status < 0xF0)
            {
                runningStatus = status;
                int dataBytes = (status & 0xF0) is 0xC0 or 0xD0 ? 1 : 2;
                if (track.Length - pos < dataBytes) throw Fail(trackIndex, "ends inside a channel message (truncated)");
                for (int i = 0; i < dataBytes; i++)
                    if (track[pos + i] > 127) throw Fail(trackIndex, $"data byte {track[pos + i]} over 127 at offset {pos + i}");
                pos += dataBytes;
            }
            else if (status == 0xFF)
            {
                runningStatus = 0;
                if (pos >= track.Length) throw Fail(trackIndex, "ends inside a meta event (truncated)");
                int type = track[pos++];
                int length = ReadVarLen(track, ref pos, trackIndex, "meta event length");
                if (length > track.Length - pos) throw Fail(trackIndex, $"meta event 0x{type:X2} declares {length} bytes but only {track.Length - pos} remain in the track");
                if (type == 0x51)
                {
                    if (length != 3) throw Fail(trackIndex, $"tempo event with length {length} (must be 3)");
                    int microsPerQuarter = track[pos] << 16 | track[pos + 1] << 8 | track[pos + 2];
                    if (microsPerQuarter == 0) throw Fail(trackIndex, "tempo of 0 microseconds per quarter note");
                }
                pos += length;
                if (type == 0x2F) return true; // End of Track: anything after it in the chunk is ignored.
            }
            else if (status is 0xF0 or 0xF7)
            {
                runningStatus = 0;
                int length = ReadVarLen(track, ref pos, trackIndex, "sysex length");
                if (length > track.Length - pos) throw Fail(trackIndex, $"sysex declares {length} bytes but only {track.Length - pos} remain in the track");
                if (status == 0xF0 && (length == 0 || track[pos + length - 1] != 0xF7))
                    throw Fail(trackIndex, "split (multi-packet) sysex messages are not supported");
                if (status == 0xF7) throw Fail(trackIndex, "sysex escape (0xF7) events are not supported");
                for (int i = pos; i < pos + length - 1; i++)
                    if (track[i] > 127) throw Fail(trackIndex, $"sysex data byte {track[i]} over 127 at offset {i}");
                pos += length;
            }
            else
            {
                throw Fail(trackIndex, $"status byte 0x{status:X2} is not allowed in a MIDI file");
            }
        }
        if (track.Length == 0) throw Fail(trackIndex, "is empty: no events, not even End of Track");
        return false; // every event complete, the chunk exactly filled, no End of Track
    }

    /// <summary>Reads a MIDI variable-length quantity: at most 4 bytes, 7 bits each, high bit = "more".</summary>
    static int ReadVarLen(ReadOnlySpan<byte> track, ref int pos, int trackIndex, string what)
    {
        int value = 0;
        for (int i = 0; i < 4; i++)
        {
            if (pos >= track.Length) throw Fail(trackIndex, $"ends inside a {what} (truncated)");
            byte b = track[pos++];
            value = (value << 7) | (b & 0x7F);
            if ((b & 0x80) == 0) return value;
        }
        throw Fail(trackIndex, $"over-long variable-length {what} (more than 4 bytes)");
    }

    /// <summary>RIFF/RMID: "RIFF" size "RMID" then chunks, one of which ("data") holds the SMF.</summary>
    static (int Offset, int Length) UnwrapRiff(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12 || !StartsWith(data[8..], "RMID"u8)) throw new MidiFormatException("RIFF file that is not RMID (not a MIDI file)");
        int pos = 12;
        while (data.Length - pos >= 8)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]);
            if (length > (uint)(data.Length - pos - 8)) throw new MidiFormatException("RMID chunk runs past the end of the file");
            if (StartsWith(data[pos..], "data"u8)) return (pos + 8, (int)length);
            pos += 8 + (int)length + (int)(length & 1); // RIFF chunks are padded to even sizes
        }
        throw new MidiFormatException("RMID file without a data chunk");
    }

    static bool StartsWith(ReadOnlySpan<byte> data, ReadOnlySpan<byte> prefix) => data.Length >= prefix.Length && data[..prefix.Length].SequenceEqual(prefix);

    static bool IsPrintableId(ReadOnlySpan<byte> id)
    {
        foreach (byte b in id) if (b < 0x20 || b > 0x7E) return false;
        return true;
    }

    static MidiFormatException Fail(int trackIndex, string what) => new($"track {trackIndex + 1} {what}");
}
