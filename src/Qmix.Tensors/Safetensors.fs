namespace Qmix.Tensors

open System
open System.Buffers
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.Runtime.InteropServices
open System.Security.Cryptography
open System.Text.Encodings.Web
open System.Text.Json
open Microsoft.Win32.SafeHandles

/// <summary>A safetensors file or buffer that cannot be read: the message names the file (when read from a
/// path), the tensor concerned (when there is one) and what was wrong.</summary>
/// <remarks>A <see cref="T:System.FormatException"/> (<c>InvalidDataException</c> is sealed).</remarks>
[<Sealed>]
type SafetensorsException(message: string, filePath: string, tensorName: string, inner: exn) =
    inherit FormatException(message, inner)

    /// <summary>Creates the exception with no inner exception.</summary>
    /// <param name="message">The full message.</param>
    /// <param name="filePath">The file being read, or null when reading bytes.</param>
    /// <param name="tensorName">The tensor at fault, or null when the fault is not about one tensor.</param>
    new(message: string, filePath: string, tensorName: string) =
        SafetensorsException(message, filePath, tensorName, null)

    /// <summary>The file being read, or null when the data came from a byte array.</summary>
    member _.FilePath = filePath

    /// <summary>The name of the tensor at fault, or null when the fault is not about one tensor.</summary>
    member _.TensorName = tensorName

/// <summary>The contents of a safetensors file: named float32 tensors and string metadata.</summary>
type SafetensorsFile =
    {
        /// <summary>The tensors with their names, in the order of their data in the file.</summary>
        Tensors: (string * Tensor) list
        /// <summary>The <c>__metadata__</c> entries of the header (empty when there are none).</summary>
        Metadata: Map<string, string>
    }

/// <summary>One tensor of a safetensors header: its name, shape and where its data lies.</summary>
type SafetensorsEntry =
    {
        /// <summary>The tensor's name.</summary>
        Name: string
        /// <summary>The tensor's shape (at most <c>Int32.MaxValue</c> elements).</summary>
        Shape: Shape
        /// <summary>The first byte of the tensor's data, relative to the start of the data buffer.</summary>
        Begin: int64
        /// <summary>One past the last byte of the tensor's data, relative to the start of the data buffer.</summary>
        End: int64
    }

    /// <summary>The number of elements, counted in 64 bits.</summary>
    member e.Numel = (e.End - e.Begin) / 4L

/// <summary>The layout of a safetensors file, computed from the tensors' names and shapes alone (no data): the
/// padded header and every tensor's byte range. Offsets are 64-bit, so files past 2 or 4 GB are laid out
/// exactly.</summary>
type SafetensorsLayout =
    {
        /// <summary>The header's JSON, padded with spaces to a multiple of 8 bytes.</summary>
        Header: byte[]
        /// <summary>The tensors in the order of their data.</summary>
        Entries: SafetensorsEntry[]
        /// <summary>The size of the data buffer in bytes.</summary>
        DataBytes: int64
    }

    /// <summary>The size of the whole file in bytes: the 8-byte length, the header and the data.</summary>
    member l.FileBytes = 8L + int64 l.Header.Length + l.DataBytes

/// <summary>CRC-32C (Castagnoli) of byte streams, the checksum that checkpoints record for every tensor's bytes (on
/// x86 and Arm it runs on the CPU's CRC instructions, several GB/s).</summary>
[<RequireQualifiedAccess>]
module Crc32c =
    /// <summary>The state before any byte (all ones).</summary>
    [<Literal>]
    let Initial = 0xFFFFFFFFu

    /// <summary>The state after more bytes, in order: bytes may come in pieces of any size.</summary>
    /// <param name="state">The state so far (<c>Initial</c> at the start).</param>
    /// <param name="bytes">The next bytes.</param>
    let append (state: uint32) (bytes: ReadOnlySpan<byte>) : uint32 =
        let mutable crc = state
        let words = bytes.Length / 8

        if words > 0 then
            for w in MemoryMarshal.Cast<byte, uint64>(bytes.Slice(0, 8 * words)) do
                crc <-
                    Numerics.BitOperations.Crc32C(
                        crc,
                        (if BitConverter.IsLittleEndian then
                             w
                         else
                             BinaryPrimitives.ReverseEndianness w)
                    )

        for i in 8 * words .. bytes.Length - 1 do
            crc <- Numerics.BitOperations.Crc32C(crc, bytes[i])

        crc

    /// <summary>The checksum of the bytes that led to a state (its bits inverted).</summary>
    /// <param name="state">The state after the last byte.</param>
    let finish (state: uint32) : uint32 = ~~~state

    /// <summary>The checksum of bytes.</summary>
    /// <param name="bytes">The bytes.</param>
    let ofBytes (bytes: ReadOnlySpan<byte>) : uint32 = finish (append Initial bytes)

    /// <summary>A checksum as recorded in metadata: 8 lowercase hexadecimal digits.</summary>
    /// <param name="checksum">The checksum.</param>
    let format (checksum: uint32) : string =
        checksum.ToString("x8", Globalization.CultureInfo.InvariantCulture)

/// A write-only stream that only feeds the CRC of what is written (to checksum a source without writing it).
[<Sealed>]
type internal Crc32cStream() =
    inherit Stream()
    member val State = Crc32c.Initial with get, set
    override _.CanRead = false
    override _.CanSeek = false
    override _.CanWrite = true
    override _.Length = raise (NotSupportedException())

    override _.Position
        with get () = raise (NotSupportedException())
        and set _ = raise (NotSupportedException())

    override _.Flush() = ()
    override _.Read(_: byte[], _: int, _: int) = raise (NotSupportedException())
    override _.Seek(_: int64, _: SeekOrigin) = raise (NotSupportedException())
    override _.SetLength _ = raise (NotSupportedException())

    override s.Write(buffer: byte[], offset: int, count: int) =
        s.Write(ReadOnlySpan(buffer, offset, count))

    override s.Write(buffer: ReadOnlySpan<byte>) = s.State <- Crc32c.append s.State buffer

/// <summary>Where a <see cref="T:Qmix.Tensors.TensorSource"/> writes its tensor's values, in row-major order, as
/// many at a time as it likes. The values go straight to the stream (converted to little-endian float32), so no copy
/// of the tensor is ever assembled in memory. Writing more values than the tensor's shape holds, or fewer by the time
/// the source returns, throws <see cref="T:System.InvalidOperationException"/>.</summary>
[<Sealed>]
type TensorSink internal (stream: Stream) =
    // values per write to the stream: spans of any length are written in pieces whose byte counts fit an int
    static let piece = 1 <<< 20
    let mutable name: string = null
    let mutable expected = 0L
    let mutable written = 0L
    // conversions (ints, scalars, big-endian machines) go through this buffer, allocated once per file
    let mutable scratch: byte[] = null

    member private _.Scratch =
        if isNull scratch then
            scratch <- Array.zeroCreate (1 <<< 16)

        scratch

    member internal _.Start(tensorName: string, count: int64) =
        name <- tensorName
        expected <- count
        written <- 0L

    member internal _.Finish() =
        if written <> expected then
            invalidOp (sprintf "tensor '%s': its source wrote %d values, but its shape holds %d" name written expected)

    /// Checks that n more values fit, before any of them is written.
    member private _.Reserve(n: int) =
        if int64 n > expected - written then
            invalidOp (
                sprintf
                    "tensor '%s': its source wrote more values than the %d its shape holds (%d written, %d more given)"
                    name
                    expected
                    written
                    n
            )

        written <- written + int64 n

    /// <summary>The name of the tensor being written.</summary>
    member _.Name = name

    /// <summary>The number of values still to write for the current tensor.</summary>
    member _.Remaining = expected - written

    /// <summary>Writes values, in order.</summary>
    /// <param name="values">The next values of the tensor, row-major.</param>
    member s.Write(values: ReadOnlySpan<float32>) : unit =
        s.Reserve values.Length
        let mutable i = 0

        while i < values.Length do
            let n = min piece (values.Length - i)

            if BitConverter.IsLittleEndian then
                stream.Write(MemoryMarshal.AsBytes(values.Slice(i, n)))
            else
                let buf = s.Scratch
                let mutable j = 0

                while j < n do
                    let m = min (buf.Length / 4) (n - j)

                    for k in 0 .. m - 1 do
                        BinaryPrimitives.WriteSingleLittleEndian(Span(buf, 4 * k, 4), values[i + j + k])

                    stream.Write(buf, 0, 4 * m)
                    j <- j + m

            i <- i + n

    /// <summary>Writes values, in order.</summary>
    /// <param name="values">The next values of the tensor, row-major.</param>
    member s.Write(values: float32[]) : unit = s.Write(ReadOnlySpan values)

    /// <summary>Writes integers as float32 values, in order (exact for magnitudes up to 2^24).</summary>
    /// <param name="values">The next values of the tensor, row-major.</param>
    member s.Write(values: ReadOnlySpan<int>) : unit =
        s.Reserve values.Length
        let buf = s.Scratch
        let mutable j = 0

        while j < values.Length do
            let m = min (buf.Length / 4) (values.Length - j)

            for k in 0 .. m - 1 do
                BinaryPrimitives.WriteSingleLittleEndian(Span(buf, 4 * k, 4), float32 values[j + k])

            stream.Write(buf, 0, 4 * m)
            j <- j + m

    /// <summary>Writes integers as float32 values, in order (exact for magnitudes up to 2^24).</summary>
    /// <param name="values">The next values of the tensor, row-major.</param>
    member s.Write(values: int[]) : unit = s.Write(ReadOnlySpan values)

    /// <summary>Writes one value.</summary>
    /// <param name="value">The next value of the tensor.</param>
    member s.Write(value: float32) : unit =
        s.Reserve 1
        let buf = s.Scratch
        BinaryPrimitives.WriteSingleLittleEndian(Span(buf, 0, 4), value)
        stream.Write(buf, 0, 4)

/// <summary>A tensor to write, given by its name and shape, whose values a function streams into a
/// <see cref="T:Qmix.Tensors.TensorSink"/> when the file is written (e.g. straight from the arrays that hold them,
/// without concatenating them first).</summary>
type TensorSource =
    {
        /// <summary>The tensor's name.</summary>
        Name: string
        /// <summary>The tensor's shape; the source must write exactly its number of elements.</summary>
        Shape: Shape
        /// <summary>Writes the tensor's values, row-major, into the sink.</summary>
        Write: TensorSink -> unit
    }

/// <summary>Functions over tensor sources.</summary>
[<RequireQualifiedAccess>]
module TensorSource =
    /// <summary>The source of an existing tensor (its data is read when the file is written).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="tensor">The tensor.</param>
    let ofTensor (name: string) (tensor: Tensor) : TensorSource =
        {
            Name = name
            Shape = tensor.Shape
            Write = fun sink -> sink.Write tensor.Span
        }

/// <summary>An open safetensors file, read one tensor (or part of one) at a time by positional reads: the header
/// is parsed and checked when the file is opened, and no more of the file than asked for is ever in memory. Files of
/// any size (64-bit offsets) are read; one tensor holds at most <c>Int32.MaxValue</c> elements. Dispose it to close
/// the file. Reads may come from several threads at once.</summary>
[<Sealed>]
type SafetensorsReader
    internal
    (path: string, handle: SafeFileHandle, dataStart: int64, entries: SafetensorsEntry[], metadata: Map<string, string>)
    =
    static let piece = 1 <<< 20

    let index =
        let d = Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal)

        for e in entries do
            d.Add(e.Name, e)

        d

    let where = sprintf "safetensors file '%s'" path

    let mutable verify = true

    let entry (name: string) =
        if isNull name then
            nullArg (nameof name)

        match index.TryGetValue name with
        | true, e -> e
        | _ -> invalidArg (nameof name) (sprintf "%s has no tensor '%s'" where name)

    /// <summary>The file's path.</summary>
    member _.Path = path

    /// <summary>Whether whole-tensor reads (<c>Read</c>, <c>ReadAll</c>) check each tensor's recorded checksum
    /// (see <c>Safetensors.ChecksumKey</c>); true unless switched off. <c>Verify</c> checks whatever this says.</summary>
    member _.VerifiesChecksums
        with get () = verify
        and set v = verify <- v

    /// <summary>The checksum recorded for a tensor, if the metadata has one.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The recorded value is not 8 hexadecimal digits.</exception>
    member _.RecordedChecksum(name: string) : uint32 option =
        match metadata.TryFind("crc32c:" + name) with
        | None -> None
        | Some text ->
            match
                UInt32.TryParse(
                    text,
                    Globalization.NumberStyles.AllowHexSpecifier,
                    Globalization.CultureInfo.InvariantCulture
                )
            with
            | true, v when text.Length = 8 -> Some v
            | _ ->
                raise (
                    SafetensorsException(
                        sprintf
                            "%s: the checksum recorded for tensor '%s' is %A, not 8 hexadecimal digits"
                            where
                            name
                            text,
                        path,
                        name
                    )
                )

    /// Compares a tensor's computed checksum with the recorded one.
    member private r.Check(name: string, computed: uint32) =
        match r.RecordedChecksum name with
        | Some recorded when recorded <> computed ->
            raise (
                SafetensorsException(
                    sprintf
                        "%s: tensor '%s' is corrupt: its data's CRC-32C is %s, but the file records %s"
                        where
                        name
                        (Crc32c.format computed)
                        (Crc32c.format recorded),
                    path,
                    name
                )
            )
        | _ -> ()

    /// <summary>The <c>__metadata__</c> entries of the header (empty when there are none).</summary>
    member _.Metadata = metadata

    /// <summary>The tensors, in the order of their data in the file.</summary>
    member _.Entries: SafetensorsEntry list = List.ofArray entries

    /// <summary>The entry of the tensor of a given name, if the file has one.</summary>
    /// <param name="name">The tensor's name.</param>
    member _.TryFindEntry(name: string) : SafetensorsEntry option =
        match index.TryGetValue name with
        | true, e -> Some e
        | _ -> None

    /// <summary>Reads consecutive values of a tensor into a span.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="elementOffset">The row-major index of the first value to read.</param>
    /// <param name="destination">Where the values go; its length is the number read.</param>
    /// <exception cref="System.ArgumentException">The file has no tensor of that name.</exception>
    /// <exception cref="System.ArgumentOutOfRangeException">The range lies outside the tensor.</exception>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The file ends inside the range (it was truncated after
    /// it was opened).</exception>
    member _.ReadInto(name: string, elementOffset: int64, destination: Span<float32>) : unit =
        let e = entry name

        if elementOffset < 0L || elementOffset > e.Numel - int64 destination.Length then
            raise (
                ArgumentOutOfRangeException(
                    nameof elementOffset,
                    sprintf
                        "%s: values [%d, %d) are outside tensor '%s' of %d values"
                        where
                        elementOffset
                        (elementOffset + int64 destination.Length)
                        name
                        e.Numel
                )
            )

        let mutable position = dataStart + e.Begin + 4L * elementOffset
        let mutable i = 0

        while i < destination.Length do
            let n = min piece (destination.Length - i)
            let values = destination.Slice(i, n)
            let bytes = MemoryMarshal.AsBytes values
            let mutable got = 0

            while got < bytes.Length do
                let k = RandomAccess.Read(handle, bytes.Slice got, position + int64 got)

                if k <= 0 then
                    raise (
                        SafetensorsException(
                            sprintf
                                "%s: the file ends at byte %d, inside tensor '%s' (data_offsets [%d, %d]); it was truncated after it was opened"
                                where
                                (position + int64 got)
                                name
                                e.Begin
                                e.End,
                            path,
                            name
                        )
                    )

                got <- got + k

            if not BitConverter.IsLittleEndian then
                for j in 0 .. n - 1 do
                    values[j] <- BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(4 * j, 4))

            position <- position + int64 bytes.Length
            i <- i + n

    /// <summary>Reads a whole tensor onto the GC heap.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <exception cref="System.ArgumentException">The file has no tensor of that name.</exception>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The tensor's data does not match the checksum the file
    /// records for it (when <c>VerifiesChecksums</c>), or the file ends inside it.</exception>
    member r.Read(name: string) : Tensor =
        let e = entry name
        let data = GC.AllocateUninitializedArray<float32>(int e.Numel)
        r.ReadInto(name, 0L, Span data)

        if verify then
            let bytes = MemoryMarshal.AsBytes(ReadOnlySpan data)

            let crc =
                if BitConverter.IsLittleEndian then
                    Crc32c.ofBytes bytes
                else
                    let le = Array.zeroCreate<byte> bytes.Length

                    for i in 0 .. data.Length - 1 do
                        BinaryPrimitives.WriteSingleLittleEndian(Span(le, 4 * i, 4), data[i])

                    Crc32c.ofBytes (ReadOnlySpan le)

            r.Check(name, crc)

        Tensor(e.Shape, data, 0, null, null, 0)

    /// <summary>Reads every tensor's bytes in pieces of 1 MB and compares each tensor's CRC-32C with the checksum
    /// the file records for it (tensors without one are not checked). Does nothing when <c>VerifiesChecksums</c> is
    /// false.</summary>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">A tensor's data does not match its recorded checksum
    /// (the message names the file and the tensor), a recorded checksum is malformed, or the file was truncated after
    /// it was opened.</exception>
    member r.Verify() : unit =
        if verify then
            let buffer = Array.zeroCreate<byte> piece

            for e in entries do
                if (r.RecordedChecksum e.Name).IsSome then
                    let mutable crc = Crc32c.Initial
                    let mutable position = dataStart + e.Begin

                    while position < dataStart + e.End do
                        let n = int (min (int64 buffer.Length) (dataStart + e.End - position))
                        let k = RandomAccess.Read(handle, Span(buffer, 0, n), position)

                        if k <= 0 then
                            raise (
                                SafetensorsException(
                                    sprintf
                                        "%s: the file ends at byte %d, inside tensor '%s'; it was truncated after it was opened"
                                        where
                                        position
                                        e.Name,
                                    path,
                                    e.Name
                                )
                            )

                        crc <- Crc32c.append crc (ReadOnlySpan(buffer, 0, k))
                        position <- position + int64 k

                    r.Check(e.Name, Crc32c.finish crc)

    /// <summary>Reads every tensor onto the GC heap, with the metadata.</summary>
    member r.ReadAll() : SafetensorsFile =
        {
            Tensors = [ for e in entries -> e.Name, r.Read e.Name ]
            Metadata = metadata
        }

    /// <summary>Closes the file.</summary>
    member _.Dispose() = handle.Dispose()

    interface IDisposable with
        member r.Dispose() = r.Dispose()

/// <summary>
/// Reading and writing named float32 tensors in the safetensors format used by PyTorch and Hugging Face.
/// </summary>
/// <remarks>
/// <para>Layout: an 8-byte little-endian unsigned header length N; N bytes of UTF-8 JSON mapping each tensor
/// name to <c>{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}</c>, plus an optional
/// <c>"__metadata__"</c> object of string values; then the data buffer. Offsets are in bytes, relative to the
/// start of the buffer; data is little-endian and row-major.</para>
/// <para>Writing follows the reference implementation: compact JSON with <c>__metadata__</c> first (keys in
/// ordinal order, omitted when empty), then the tensors in the order given, each entry's fields in the order
/// dtype, shape, data_offsets; the JSON is padded with spaces to a multiple of 8 bytes so the data starts
/// 8-byte aligned; the data of the tensors follows back to back in the same order. Non-ASCII characters in
/// names are written as raw UTF-8. The reference Python library orders tensors by name instead, so its bytes
/// equal ours when the names are given in ordinal order.</para>
/// <para>Large files: the header is computed from names and shapes alone (<c>layout</c>), with 64-bit offsets;
/// <c>write</c> and <c>saveStreamed</c> then stream each tensor's values from its source straight to the file, and
/// <c>openRead</c> reads one tensor, or a range of one, at a time. Neither side ever holds a copy of the whole data.
/// One tensor holds at most <c>Int32.MaxValue</c> elements; a file may hold any number of them.</para>
/// <para>Reading accepts only F32 tensors, and checks that the tensors' data exactly tiles the buffer with
/// no gap, overlap or trailing bytes; anything else raises <see cref="T:Qmix.Tensors.SafetensorsException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Safetensors =
    /// <summary>The largest header accepted when reading: 100 MB.</summary>
    [<Literal>]
    let MaxHeaderBytes = 100_000_000L

    /// <summary>The most elements one tensor may hold, written or read: <c>Int32.MaxValue</c>.</summary>
    [<Literal>]
    let MaxElements = 2147483647L

    [<Literal>]
    let private MetadataKey = "__metadata__"

    /// <summary>The metadata key under which a tensor's checksum is recorded: <c>crc32c:NAME</c>, its value the
    /// CRC-32C of the tensor's data bytes (little-endian float32, as in the file) as 8 lowercase hexadecimal digits.
    /// Metadata is ignored by other readers (PyTorch's <c>safetensors.torch.load_file</c> loads such a file as it
    /// is).</summary>
    /// <param name="name">The tensor's name.</param>
    let ChecksumKey (name: string) : string = "crc32c:" + name

    // ---------------------------------------------------------------- writing

    let private strictUtf8 = Text.UTF8Encoding(false, true)

    /// True when a string is well-formed UTF-16 (no lone surrogates), so it has an exact UTF-8 form.
    let private wellFormed (s: string) =
        try
            strictUtf8.GetByteCount s |> ignore
            true
        with :? Text.EncoderFallbackException ->
            false

    /// The number of elements of a shape, in 64 bits (Shape.Numel is an int).
    let private numel64 (shape: Shape) =
        let mutable n = 1L

        for d in shape.Dims do
            n <- n * int64 d

        n

    /// <summary>The layout of a file holding tensors of the given names and shapes (in the given order) and
    /// metadata: the padded header and each tensor's byte range, computed without any tensor data.</summary>
    /// <param name="metadata">String metadata for the header's <c>__metadata__</c> entry (omitted when empty).</param>
    /// <param name="tensors">The names and shapes; names must be distinct and not <c>__metadata__</c>.</param>
    /// <exception cref="System.ArgumentException">A name repeats, is <c>__metadata__</c> or null; a metadata value
    /// is null; a name or metadata string is not well-formed Unicode (has a lone surrogate); or a shape has more
    /// than <c>Int32.MaxValue</c> elements.</exception>
    let layout (metadata: Map<string, string>) (tensors: (string * Shape) seq) : SafetensorsLayout =
        if isNull (box metadata) then
            nullArg (nameof metadata)

        if isNull tensors then
            nullArg (nameof tensors)

        let items = Seq.toArray tensors
        let seen = HashSet<string>(StringComparer.Ordinal)

        for name, shape in items do
            if isNull name then
                invalidArg (nameof tensors) "a tensor name is null"

            if name = MetadataKey then
                invalidArg
                    (nameof tensors)
                    (sprintf "a tensor cannot be named '%s': the header reserves that key" MetadataKey)

            if not (wellFormed name) then
                invalidArg
                    (nameof tensors)
                    (sprintf "the tensor name %A is not well-formed Unicode (a lone surrogate)" name)

            if not (seen.Add name) then
                invalidArg (nameof tensors) (sprintf "the tensor name '%s' appears more than once" name)

            if numel64 shape > MaxElements then
                invalidArg
                    (nameof tensors)
                    (sprintf
                        "the tensor '%s' has shape %O, %d elements; a tensor holds at most %d (split it into several)"
                        name
                        shape
                        (numel64 shape)
                        MaxElements)

        for KeyValue(k, v) in metadata do
            if isNull v then
                invalidArg (nameof metadata) (sprintf "the metadata value for '%s' is null" k)

            if not (wellFormed k && wellFormed v) then
                invalidArg
                    (nameof metadata)
                    (sprintf "the metadata entry %A = %A is not well-formed Unicode (a lone surrogate)" k v)

        let buffer = ArrayBufferWriter<byte>()

        let options =
            JsonWriterOptions(Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false)

        let entries = Array.zeroCreate<SafetensorsEntry> items.Length
        let mutable offset = 0L

        do
            use w = new Utf8JsonWriter(buffer, options)
            w.WriteStartObject()

            if not metadata.IsEmpty then
                w.WriteStartObject MetadataKey

                for KeyValue(k, v) in metadata do
                    w.WriteString(k, v)

                w.WriteEndObject()

            for i in 0 .. items.Length - 1 do
                let name, shape = items[i]
                let bytes = numel64 shape * 4L
                w.WriteStartObject name
                w.WriteString("dtype", "F32")
                w.WriteStartArray "shape"

                for d in shape.Dims do
                    w.WriteNumberValue d

                w.WriteEndArray()
                w.WriteStartArray "data_offsets"
                w.WriteNumberValue offset
                w.WriteNumberValue(offset + bytes)
                w.WriteEndArray()
                w.WriteEndObject()

                entries[i] <-
                    {
                        Name = name
                        Shape = shape
                        Begin = offset
                        End = offset + bytes
                    }

                offset <- offset + bytes

            w.WriteEndObject()

        let json = buffer.WrittenSpan
        let padded = (json.Length + 7) / 8 * 8
        let header = Array.create padded (byte ' ')
        json.CopyTo(Span header)

        {
            Header = header
            Entries = entries
            DataBytes = offset
        }

    /// The layout of sources, after checking them.
    let private layoutOf (metadata: Map<string, string>) (sources: TensorSource seq) =
        if isNull sources then
            nullArg (nameof sources)

        let items = Seq.toArray sources

        for s in items do
            if isNull (box s) then
                invalidArg (nameof sources) "a tensor source is null"

            if isNull (box s.Write) then
                invalidArg (nameof sources) (sprintf "the source of tensor '%s' has no Write function" s.Name)

        layout metadata (items |> Array.map (fun s -> s.Name, s.Shape)), items

    /// Sources for tensors, after checking that none is null.
    let private sourcesOf (tensors: (string * Tensor) seq) =
        if isNull tensors then
            nullArg (nameof tensors)

        [|
            for name, t in tensors do
                if isNull t then
                    invalidArg (nameof tensors) (sprintf "the tensor '%s' is null" name)

                TensorSource.ofTensor name t
        |]

    /// <summary>The metadata with every source's checksum added (under <c>ChecksumKey name</c>): each source writes
    /// its values once into a checksum, so nothing is stored; write the file with the returned metadata and the same
    /// sources (which must then write the same values).</summary>
    /// <param name="metadata">The metadata to extend.</param>
    /// <param name="sources">The tensors.</param>
    /// <exception cref="System.InvalidOperationException">A source wrote more or fewer values than its shape
    /// holds.</exception>
    let withChecksums (metadata: Map<string, string>) (sources: TensorSource seq) : Map<string, string> =
        if isNull (box metadata) then
            nullArg (nameof metadata)

        let l, items = layoutOf Map.empty sources
        use hashing = new Crc32cStream()
        let sink = TensorSink hashing
        let mutable result = metadata

        for i in 0 .. items.Length - 1 do
            let e = l.Entries[i]
            hashing.State <- Crc32c.Initial
            sink.Start(e.Name, e.Numel)
            items[i].Write sink
            sink.Finish()
            result <- result.Add(ChecksumKey e.Name, Crc32c.format (Crc32c.finish hashing.State))

        result

    /// Writes the length, the header, then each source's values, checking that each writes its shape's count.
    let private writeLayout (stream: Stream) (l: SafetensorsLayout) (sources: TensorSource[]) =
        let lengthField = Array.zeroCreate<byte> 8
        BinaryPrimitives.WriteUInt64LittleEndian(Span lengthField, uint64 l.Header.Length)
        stream.Write(lengthField, 0, 8)
        stream.Write(l.Header, 0, l.Header.Length)
        let sink = TensorSink stream

        for i in 0 .. sources.Length - 1 do
            let e = l.Entries[i]
            sink.Start(e.Name, e.Numel)
            sources[i].Write sink
            sink.Finish()

    /// <summary>Writes a safetensors file to a stream, streaming each tensor's values from its source: the
    /// header first (from the names and shapes), then each source's values in order. Nothing but a small conversion
    /// buffer is allocated beyond the header.</summary>
    /// <param name="stream">Where the file goes, from its first byte.</param>
    /// <param name="metadata">String metadata for the header (omitted when empty).</param>
    /// <param name="sources">The tensors to write.</param>
    /// <exception cref="System.ArgumentException">See <c>layout</c>.</exception>
    /// <exception cref="System.InvalidOperationException">A source wrote more or fewer values than its shape
    /// holds; the stream then holds a partial file.</exception>
    let write (stream: Stream) (metadata: Map<string, string>) (sources: TensorSource seq) : unit =
        if isNull stream then
            nullArg (nameof stream)

        let l, items = layoutOf metadata sources
        writeLayout stream l items

    /// <summary>The bytes of a safetensors file holding the given tensors (in the given order) and metadata.</summary>
    /// <param name="metadata">String metadata for the header's <c>__metadata__</c> entry (omitted when empty).</param>
    /// <param name="tensors">The named tensors; names must be distinct and not <c>__metadata__</c>.</param>
    /// <exception cref="System.ArgumentException">A name repeats, is <c>__metadata__</c> or null; a tensor or a
    /// metadata value is null; a name or metadata string is not well-formed Unicode (has a lone surrogate);
    /// or the result would exceed the largest possible array.</exception>
    let toBytes (metadata: Map<string, string>) (tensors: (string * Tensor) seq) : byte[] =
        let l, items = layoutOf metadata (sourcesOf tensors)

        if l.FileBytes > int64 Array.MaxLength then
            invalidArg
                (nameof tensors)
                (sprintf "the file would be %d bytes, more than a byte array can hold; use Safetensors.save" l.FileBytes)

        let result = Array.zeroCreate<byte>(int l.FileBytes)
        use stream = new MemoryStream(result, true)
        writeLayout stream l items
        result

    /// <summary>Writes a safetensors file atomically, streaming each tensor's values from its source: the data
    /// goes to a temporary file next to <paramref name="path"/> (<c>path + ".tmp-" + random hex</c>), which is
    /// flushed to disk and then renamed over <paramref name="path"/>. If anything fails, the temporary file is
    /// deleted and any earlier file at <paramref name="path"/> is left as it was.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="metadata">String metadata for the header (omitted when empty).</param>
    /// <param name="sources">The tensors to write.</param>
    /// <exception cref="System.ArgumentException">See <c>layout</c>.</exception>
    /// <exception cref="System.InvalidOperationException">A source wrote more or fewer values than its shape
    /// holds.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be written.</exception>
    let saveStreamed (path: string) (metadata: Map<string, string>) (sources: TensorSource seq) : unit =
        if String.IsNullOrEmpty path then
            invalidArg (nameof path) "the path is null or empty"

        let l, items = layoutOf metadata sources
        let full = Path.GetFullPath path

        let tmp =
            full
            + ".tmp-"
            + Convert.ToHexString(RandomNumberGenerator.GetBytes 8).ToLowerInvariant()

        try
            do
                use stream =
                    new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 <<< 16)

                writeLayout stream l items
                stream.Flush true

            File.Move(tmp, full, true)
        with _ ->
            try
                File.Delete tmp
            with _ ->
                ()

            reraise ()

    /// <summary>Writes a safetensors file atomically: the data goes to a temporary file next to
    /// <paramref name="path"/> (<c>path + ".tmp-" + random hex</c>), which is flushed to disk and then renamed
    /// over <paramref name="path"/>. If anything fails, the temporary file is deleted and any earlier file at
    /// <paramref name="path"/> is left as it was.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="metadata">String metadata for the header (omitted when empty).</param>
    /// <param name="tensors">The named tensors; names must be distinct and not <c>__metadata__</c>.</param>
    /// <exception cref="System.ArgumentException">See <c>toBytes</c>.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be written.</exception>
    let save (path: string) (metadata: Map<string, string>) (tensors: (string * Tensor) seq) : unit =
        if String.IsNullOrEmpty path then
            invalidArg (nameof path) "the path is null or empty"

        saveStreamed path metadata (sourcesOf tensors)

    // ---------------------------------------------------------------- reading

    let private describe (e: JsonElement) =
        let raw = e.GetRawText()

        if raw.Length > 60 then
            raw.Substring(0, 57) + "..."
        else
            raw

    let private whereOf (filePath: string) =
        if isNull filePath then
            "safetensors data"
        else
            sprintf "safetensors file '%s'" filePath

    let private failIn (filePath: string) (tensor: string) (inner: exn) (msg: string) =
        raise (SafetensorsException(whereOf filePath + ": " + msg, filePath, tensor, inner))

    /// Checks the 8-byte length field against the data's total length; returns the header's length.
    let private headerLengthOf (filePath: string) (total: int64) (lengthField: ReadOnlySpan<byte>) : int =
        let fail (msg: string) = failIn filePath null null msg

        if total < 8L then
            fail (sprintf "the data is %d bytes long, too short for the 8-byte header length" total)

        let n = BinaryPrimitives.ReadUInt64LittleEndian lengthField

        if n > uint64 MaxHeaderBytes then
            fail (
                sprintf
                    "the header length field says %d bytes, more than the %d-byte limit: not a safetensors file, or corrupt"
                    n
                    MaxHeaderBytes
            )

        if int64 n > total - 8L then
            fail (
                sprintf
                    "the header length field says %d bytes but only %d bytes follow it (truncated header)"
                    n
                    (total - 8L)
            )

        int n

    /// Parses and validates a header (the bytes after the length field) for a data buffer of a given length; returns
    /// the entries in data order and the metadata. filePath (or null) goes into every error.
    let private parseHeader
        (filePath: string)
        (header: ReadOnlyMemory<byte>)
        (bufferLength: int64)
        : SafetensorsEntry[] * Map<string, string> =
        let fail (tensor: string) (inner: exn) (msg: string) = failIn filePath tensor inner msg

        if not (Text.Unicode.Utf8.IsValid header.Span) then
            fail null null "the header is not valid UTF-8"

        let doc =
            try
                JsonDocument.Parse header
            with e ->
                fail null e (sprintf "the header is not valid JSON: %s" e.Message)

        use doc = doc
        let root = doc.RootElement

        if root.ValueKind <> JsonValueKind.Object then
            fail null null (sprintf "the header must be a JSON object, found a JSON %O" root.ValueKind)

        let names = HashSet<string>(StringComparer.Ordinal)
        let entries = List<SafetensorsEntry>()
        let mutable metadata = Map.empty

        for prop in root.EnumerateObject() do
            let name = prop.Name

            if not (names.Add name) then
                fail name null (sprintf "the name '%s' appears more than once in the header" name)

            let v = prop.Value

            if name = MetadataKey then
                if v.ValueKind <> JsonValueKind.Object then
                    fail null null (sprintf "%s must be an object of strings, found %s" MetadataKey (describe v))

                for m in v.EnumerateObject() do
                    if m.Value.ValueKind <> JsonValueKind.String then
                        fail
                            null
                            null
                            (sprintf
                                "%s must map strings to strings; '%s' maps to %s"
                                MetadataKey
                                m.Name
                                (describe m.Value))

                    metadata <- metadata.Add(m.Name, m.Value.GetString())
            else
                let bad (msg: string) =
                    fail name null (sprintf "tensor '%s' %s" name msg)

                if v.ValueKind <> JsonValueKind.Object then
                    bad (sprintf "must be an object with dtype, shape and data_offsets, found %s" (describe v))

                let field (key: string) =
                    match v.TryGetProperty key with
                    | true, f -> f
                    | _ -> bad (sprintf "has no %s" key)

                let dtype = field "dtype"

                if dtype.ValueKind <> JsonValueKind.String then
                    bad (sprintf "has dtype %s; it must be a string" (describe dtype))

                let dt = dtype.GetString()

                if dt <> "F32" then
                    bad (sprintf "has dtype %s; only F32 is supported" dt)

                let shape = field "shape"

                let dims =
                    if shape.ValueKind <> JsonValueKind.Array then
                        bad (sprintf "has shape %s; it must be an array of non-negative integers" (describe shape))

                    [|
                        for d in shape.EnumerateArray() do
                            match
                                d.ValueKind,
                                (if d.ValueKind = JsonValueKind.Number then
                                     d.TryGetInt32()
                                 else
                                     (false, 0))
                            with
                            | JsonValueKind.Number, (true, x) when x >= 0 -> x
                            | _ ->
                                bad (
                                    sprintf
                                        "has shape %s; it must be an array of non-negative integers"
                                        (describe shape)
                                )
                    |]

                let offsets = field "data_offsets"

                let offs =
                    let badOffsets () =
                        bad (
                            sprintf
                                "has data_offsets %s; they must be two non-negative integers [begin, end]"
                                (describe offsets)
                        )

                    if offsets.ValueKind <> JsonValueKind.Array || offsets.GetArrayLength() <> 2 then
                        badOffsets ()

                    [|
                        for o in offsets.EnumerateArray() do
                            match
                                o.ValueKind,
                                (if o.ValueKind = JsonValueKind.Number then
                                     o.TryGetInt64()
                                 else
                                     (false, 0L))
                            with
                            | JsonValueKind.Number, (true, x) when x >= 0L -> x
                            | _ -> badOffsets ()
                    |]

                let b, e = offs[0], offs[1]

                if e < b then
                    bad (sprintf "has data_offsets [%d, %d], which end before they begin" b e)

                let mutable numel = 1L

                for d in dims do
                    numel <- numel * int64 d

                    if numel > int64 Int32.MaxValue then
                        bad (sprintf "has shape %O, more than %d elements" (Shape dims) Int32.MaxValue)

                if numel * 4L <> e - b then
                    bad (
                        sprintf
                            "has shape %O, which needs %d bytes of F32 data, but data_offsets [%d, %d] cover %d"
                            (Shape dims)
                            (numel * 4L)
                            b
                            e
                            (e - b)
                    )

                entries.Add
                    {
                        Name = name
                        Shape = Shape dims
                        Begin = b
                        End = e
                    }

        // The tensors must tile the buffer: sorted by offsets, each starts where the previous one ended.
        let sorted =
            entries
            |> List.ofSeq
            |> List.sortBy (fun e -> struct (e.Begin, e.End))
            |> Array.ofList // stable

        for e in sorted do
            if e.End > bufferLength then
                fail
                    e.Name
                    null
                    (sprintf
                        "tensor '%s' has data_offsets [%d, %d] past the end of the %d-byte data buffer (truncated data?)"
                        e.Name
                        e.Begin
                        e.End
                        bufferLength)

        let mutable covered = 0L
        let mutable previous: string = null

        for e in sorted do
            if e.Begin < covered then
                fail
                    e.Name
                    null
                    (sprintf
                        "tensor '%s' (data_offsets [%d, %d]) overlaps tensor '%s', which ends at byte %d"
                        e.Name
                        e.Begin
                        e.End
                        previous
                        covered)

            if e.Begin > covered then
                fail
                    e.Name
                    null
                    (sprintf
                        "bytes [%d, %d) of the data buffer belong to no tensor (a gap before tensor '%s')"
                        covered
                        e.Begin
                        e.Name)

            covered <- e.End
            previous <- e.Name

        if covered <> bufferLength then
            fail
                null
                null
                (sprintf
                    "the data buffer is %d bytes but the tensors cover only the first %d (trailing bytes)"
                    bufferLength
                    covered)

        sorted, metadata

    /// <summary>Reads safetensors bytes. The tensors live on the GC heap (never in an arena) and share no
    /// storage with <paramref name="bytes"/>.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The bytes are not a valid safetensors file of F32 tensors.</exception>
    let ofBytes (bytes: byte[]) : SafetensorsFile =
        if isNull bytes then
            nullArg (nameof bytes)

        let headerLength =
            headerLengthOf null bytes.LongLength (ReadOnlySpan(bytes, 0, min 8 bytes.Length))

        let bufferStart = 8 + headerLength

        let entries, metadata =
            parseHeader null (ReadOnlyMemory(bytes, 8, headerLength)) (int64 (bytes.Length - bufferStart))

        let tensors =
            [
                for e in entries do
                    let data = Array.zeroCreate<float32>(int e.Numel)
                    let start = bufferStart + int e.Begin
                    let length = int (e.End - e.Begin)

                    if BitConverter.IsLittleEndian then
                        Buffer.BlockCopy(bytes, start, data, 0, length)
                    else
                        for i in 0 .. data.Length - 1 do
                            data[i] <- BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(bytes, start + 4 * i, 4))

                    e.Name, Tensor(e.Shape, data, 0, null, null, 0)
            ]

        {
            Tensors = tensors
            Metadata = metadata
        }

    /// Reads exactly buffer.Length bytes at a position, or fewer when the file ends first; returns the count.
    let private readAt (handle: SafeFileHandle) (position: int64) (buffer: Span<byte>) =
        let mutable got = 0
        let mutable ended = false

        while not ended && got < buffer.Length do
            let k = RandomAccess.Read(handle, buffer.Slice got, position + int64 got)

            if k <= 0 then ended <- true else got <- got + k

        got

    /// <summary>Opens a safetensors file for reading one tensor at a time: reads and checks the header (errors
    /// name the file and, where one is at fault, the tensor), and keeps the file open until the reader is
    /// disposed. Works for files of any size.</summary>
    /// <param name="path">The file to read.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The file is not a valid safetensors file of F32 tensors
    /// (including a file truncated inside its data: the message names the first tensor cut short).</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    let openRead (path: string) : SafetensorsReader =
        if String.IsNullOrEmpty path then
            invalidArg (nameof path) "the path is null or empty"

        let handle =
            File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess)

        try
            let total = RandomAccess.GetLength handle
            let lengthField = Array.zeroCreate<byte> 8
            let got = readAt handle 0L (Span lengthField)
            let headerLength = headerLengthOf path total (ReadOnlySpan(lengthField, 0, got))
            let header = Array.zeroCreate<byte> headerLength

            if readAt handle 8L (Span header) <> headerLength then
                failIn path null null "the file ended while its header was being read (truncated while opening?)"

            let dataStart = 8L + int64 headerLength
            let entries, metadata = parseHeader path (ReadOnlyMemory header) (total - dataStart)
            new SafetensorsReader(path, handle, dataStart, entries, metadata)
        with _ ->
            handle.Dispose()
            reraise ()

    /// <summary>Reads a whole safetensors file onto the GC heap (of any size, as long as each tensor holds at most
    /// <c>Int32.MaxValue</c> elements); errors name the file. To read one tensor at a time, use
    /// <c>openRead</c>.</summary>
    /// <param name="path">The file to read.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The file is not a valid safetensors file of F32 tensors.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    let load (path: string) : SafetensorsFile =
        use reader = openRead path
        reader.ReadAll()

    /// <summary>The tensor of a given name, if the file has one.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="file">The file's contents.</param>
    let tryFind (name: string) (file: SafetensorsFile) : Tensor option =
        file.Tensors |> List.tryPick (fun (n, t) -> if n = name then Some t else None)
