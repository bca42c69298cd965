using MusicGen.Model;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Model;

public class SafeTensorsTests
{
    /// <summary>Found by fuzzing (fuzz/run.sh safetensors): a key given twice in the JSON header escaped as an ArgumentException.</summary>
    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")]
    [InlineData("{\"__metadata__\":{\"device\":\"x\",\"device\":\"y\"}}")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999],\"data_offsets\":[0,4]}}")]
    public void A_malformed_header_is_refused_as_invalid_data(string header)
    {
        var json = System.Text.Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + 4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        Assert.Throws<InvalidDataException>(() => MusicGen.Model.SafeTensors.Load(new MemoryStream(bytes)));
    }

    [Fact]
    public void Float16_storage_rounds_each_value_to_the_nearest_half_and_keeps_the_checksum()
    {
        using var dir = new TempDir();
        float[] values = [0f, 1f, -1f, 0.1f, 1e-5f, 65504f, 3.14159f, -0.33333f, 1e-8f, 123.456f];
        var tensors = new List<(string, int[], float[])> { ("a", [2, 5], values), ("b", [3], [0.5f, -2f, 7f]) };
        SafeTensors.Save(dir["f32.safetensors"], tensors, new Dictionary<string, string> { ["k"] = "v" });
        SafeTensors.Save(dir["f16.safetensors"], tensors, new Dictionary<string, string> { ["k"] = "v" }, half: true);

        var f16 = SafeTensors.Load(dir["f16.safetensors"]);
        Assert.Equal("F16", f16.Storage);
        Assert.Equal("F32", SafeTensors.Load(dir["f32.safetensors"]).Storage);
        Assert.Equal("v", f16.Metadata["k"]);
        Assert.Equal([2, 5], f16.Tensors["a"].Shape);
        Assert.Equal(values.Select(v => (float)(Half)v).ToArray(), f16.Tensors["a"].Data);
        Assert.Equal([0.5f, -2f, 7f], f16.Tensors["b"].Data);
        for (int i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(f16.Tensors["a"].Data[i] - values[i]) <= Math.Max(Math.Abs(values[i]) / 1024, 6e-8), $"value {values[i]}");
        // 13 values: 26 data bytes instead of 52.
        long header(string f) => 8 + (long)BitConverter.ToUInt64(File.ReadAllBytes(dir[f]), 0);
        Assert.Equal(26, new FileInfo(dir["f16.safetensors"]).Length - header("f16.safetensors"));
        Assert.Equal(52, new FileInfo(dir["f32.safetensors"]).Length - header("f32.safetensors"));

        var bytes = File.ReadAllBytes(dir["f16.safetensors"]);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(dir["bad.safetensors"], bytes);
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(dir["bad.safetensors"])).Message);
    }
}
