using System.Net.Http.Headers;
using System.Text;
using MedAiNode.DicomWeb.Multipart;

namespace MedAiNode.DicomWeb.Tests.Unit;

public sealed class MultipartTests
{
    private static async Task<byte[]> Serialize(HttpContent c)
    {
        using var ms = new MemoryStream();
        await c.CopyToAsync(ms);
        return ms.ToArray();
    }

    private static async Task<List<(string? Type, byte[] Body)>> ReadAll(byte[] body, string boundary)
    {
        var reader = new MultipartRelatedReader(new MemoryStream(body), boundary, bufferSize: 4096);
        var parts = new List<(string?, byte[])>();
        while (await reader.ReadNextAsync(CancellationToken.None) is { } s)
        {
            using var ms = new MemoryStream();
            await s.Body.CopyToAsync(ms);
            parts.Add((s.ContentType, ms.ToArray()));
        }
        return parts;
    }

    [Fact]
    public async Task Written_parts_read_back_byte_for_byte_and_the_declared_length_is_exact()
    {
        var dir = TestData.TempDir("multipart");
        var rnd = new Random(7);
        var big = new byte[700_001]; // odd size, larger than every buffer on the way
        rnd.NextBytes(big);
        var file = Path.Combine(dir, "a.bin");
        await File.WriteAllBytesAsync(file, big);
        // A part containing CRLF and dashes that look almost like a boundary.
        var tricky = Encoding.ASCII.GetBytes("\r\n--medainode\r\n--\r\n\r\n");
        var content = new MultipartRelatedContent([MultipartPart.FromFile(file), MultipartPart.FromBytes(tricky), MultipartPart.FromBytes(Array.Empty<byte>())]);

        var bytes = await Serialize(content);
        Assert.Equal(content.Headers.ContentLength, bytes.Length);
        var ct = content.Headers.ContentType!;
        Assert.Equal("multipart/related", ct.MediaType);
        Assert.Contains(ct.Parameters, p => p.Name == "type" && p.Value == "\"application/dicom\"");
        Assert.Equal(content.Boundary, DicomWebMediaTypes.GetBoundary(ct));

        var parts = await ReadAll(bytes, content.Boundary);
        Assert.Equal(3, parts.Count);
        Assert.All(parts, p => Assert.Equal("application/dicom", p.Type));
        Assert.Equal(big, parts[0].Body);
        Assert.Equal(tricky, parts[1].Body);
        Assert.Empty(parts[2].Body);

        // Sending again (as a retry does) produces the same bytes.
        Assert.Equal(bytes, await Serialize(new MultipartRelatedContent(content.Parts, boundary: content.Boundary)));
    }

    [Fact]
    public async Task A_file_that_shrinks_after_its_length_was_declared_fails_the_send()
    {
        var dir = TestData.TempDir("multipart-shrink");
        var file = Path.Combine(dir, "a.bin");
        await File.WriteAllBytesAsync(file, new byte[1000]);
        var content = new MultipartRelatedContent([MultipartPart.FromFile(file)]);
        await File.WriteAllBytesAsync(file, new byte[10]);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Serialize(content));
        var inner = Assert.IsType<MultipartSourceChangedException>(e as MultipartSourceChangedException ?? e.InnerException);
        Assert.Contains("changed size", inner.Message);
        Assert.False(Resilience.DicomWebResilience.IsTransientException(e)); // a retry would send the same lie again
    }

    [Fact]
    public async Task Reads_a_server_response_with_quoted_boundary_preamble_and_extra_part_headers()
    {
        const string body = "preamble to ignore\r\n--abc:def\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: /x/1\r\n\r\nONE\r\n--abc:def\r\nContent-Type: application/dicom\r\n\r\nTWO\r\n--abc:def--\r\nepilogue";
        var ct = MediaTypeHeaderValue.Parse("multipart/related; type=\"application/dicom\"; boundary=\"abc:def\"");
        var boundary = DicomWebMediaTypes.GetBoundary(ct);
        Assert.Equal("abc:def", boundary);
        var reader = new MultipartRelatedReader(new MemoryStream(Encoding.ASCII.GetBytes(body)), boundary);
        var first = (await reader.ReadNextAsync(default))!;
        Assert.Equal("1.2.840.10008.1.2.1", DicomWebMediaTypes.GetParameter(first.ContentType, "transfer-syntax"));
        Assert.Equal("application/dicom", DicomWebMediaTypes.GetMediaType(first.ContentType));
        Assert.Equal("/x/1", first.ContentLocation);
        Assert.Equal("ONE", await new StreamReader(first.Body).ReadToEndAsync());
        var second = (await reader.ReadNextAsync(default))!;
        Assert.Equal(1, second.Index);
        Assert.Equal("TWO", await new StreamReader(second.Body).ReadToEndAsync());
        Assert.Null(await reader.ReadNextAsync(default));
    }

    [Fact]
    public async Task A_body_cut_off_before_the_closing_boundary_is_an_IO_error()
    {
        const string body = "--b\r\nContent-Type: application/dicom\r\n\r\nONE\r\n--b\r\nContent-Type: application/dicom\r\n\r\nTW";
        var reader = new MultipartRelatedReader(new MemoryStream(Encoding.ASCII.GetBytes(body)), "b");
        var first = (await reader.ReadNextAsync(default))!;
        Assert.Equal("ONE", await new StreamReader(first.Body).ReadToEndAsync());
        var second = (await reader.ReadNextAsync(default))!;
        await Assert.ThrowsAnyAsync<IOException>(() => new StreamReader(second.Body).ReadToEndAsync());
    }

    [Theory]
    [InlineData("application/dicom+json")]
    [InlineData("multipart/related; type=\"application/dicom\"")]
    public void A_response_that_is_not_multipart_or_has_no_boundary_is_a_protocol_error(string contentType)
    {
        Assert.Throws<DicomWebProtocolException>(() => DicomWebMediaTypes.GetBoundary(MediaTypeHeaderValue.Parse(contentType)));
    }
}
