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
/// <para>Reading accepts only F32 tensors, and checks that the tensors' data exactly tiles the buffer with
/// no gap, overlap or trailing bytes; anything else raises <see cref="T:Qmix.Tensors.SafetensorsException"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Safetensors =
    /// <summary>The largest header accepted when reading: 100 MB.</summary>
    [<Literal>]
    let MaxHeaderBytes = 100_000_000L

    [<Literal>]
    let private MetadataKey = "__metadata__"

    // ---------------------------------------------------------------- writing

    let private strictUtf8 = Text.UTF8Encoding(false, true)

    /// True when a string is well-formed UTF-16 (no lone surrogates), so it has an exact UTF-8 form.
    let private wellFormed (s: string) =
        try
            strictUtf8.GetByteCount s |> ignore
            true
        with :? Text.EncoderFallbackException ->
            false

    /// The padded header and the tensors to write, after checking the arguments.
    let private prepare (metadata: Map<string, string>) (tensors: (string * Tensor) seq) =
        if isNull (box metadata) then
            nullArg (nameof metadata)

        if isNull tensors then
            nullArg (nameof tensors)

        let items = Seq.toArray tensors
        let seen = HashSet<string>(StringComparer.Ordinal)

        for name, t in items do
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

            if isNull t then
                invalidArg (nameof tensors) (sprintf "the tensor '%s' is null" name)

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

        let mutable offset = 0L

        do
            use w = new Utf8JsonWriter(buffer, options)
            w.WriteStartObject()

            if not metadata.IsEmpty then
                w.WriteStartObject MetadataKey

                for KeyValue(k, v) in metadata do
                    w.WriteString(k, v)

                w.WriteEndObject()

            for name, t in items do
                let bytes = int64 t.Numel * 4L
                w.WriteStartObject name
                w.WriteString("dtype", "F32")
                w.WriteStartArray "shape"

                for d in t.Shape.Dims do
                    w.WriteNumberValue d

                w.WriteEndArray()
                w.WriteStartArray "data_offsets"
                w.WriteNumberValue offset
                w.WriteNumberValue(offset + bytes)
                w.WriteEndArray()
                w.WriteEndObject()
                offset <- offset + bytes

            w.WriteEndObject()

        let json = buffer.WrittenSpan
        let padded = (json.Length + 7) / 8 * 8
        let header = Array.create padded (byte ' ')
        json.CopyTo(Span header)
        header, items, offset

    /// Writes the length, header and data to a stream. Reading a tensor's data may throw (a tensor from an
    /// ended arena scope); the stream then holds a partial file.
    let private writeTo (stream: Stream) (header: byte[]) (items: (string * Tensor)[]) =
        let lengthField = Array.zeroCreate<byte> 8
        BinaryPrimitives.WriteUInt64LittleEndian(Span lengthField, uint64 header.Length)
        stream.Write(lengthField, 0, 8)
        stream.Write(header, 0, header.Length)

        for _, t in items do
            let data = t.Span

            if BitConverter.IsLittleEndian then
                stream.Write(MemoryMarshal.AsBytes data)
            else
                let tmp = Array.zeroCreate<byte> 4

                for x in data do
                    BinaryPrimitives.WriteSingleLittleEndian(Span tmp, x)
                    stream.Write(tmp, 0, 4)

    /// <summary>The bytes of a safetensors file holding the given tensors (in the given order) and metadata.</summary>
    /// <param name="metadata">String metadata for the header's <c>__metadata__</c> entry (omitted when empty).</param>
    /// <param name="tensors">The named tensors; names must be distinct and not <c>__metadata__</c>.</param>
    /// <exception cref="System.ArgumentException">A name repeats, is <c>__metadata__</c> or null; a tensor or a
    /// metadata value is null; a name or metadata string is not well-formed Unicode (has a lone surrogate);
    /// or the result would exceed the largest possible array.</exception>
    let toBytes (metadata: Map<string, string>) (tensors: (string * Tensor) seq) : byte[] =
        let header, items, dataBytes = prepare metadata tensors
        let total = 8L + int64 header.Length + dataBytes

        if total > int64 Array.MaxLength then
            invalidArg
                (nameof tensors)
                (sprintf "the file would be %d bytes, more than a byte array can hold; use Safetensors.save" total)

        let result = Array.zeroCreate<byte>(int total)
        use stream = new MemoryStream(result, true)
        writeTo stream header items
        result

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

        let header, items, _ = prepare metadata tensors
        let full = Path.GetFullPath path

        let tmp =
            full
            + ".tmp-"
            + Convert.ToHexString(RandomNumberGenerator.GetBytes 8).ToLowerInvariant()

        try
            do
                use stream =
                    new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 <<< 16)

                writeTo stream header items
                stream.Flush true

            File.Move(tmp, full, true)
        with _ ->
            try
                File.Delete tmp
            with _ ->
                ()

            reraise ()

    // ---------------------------------------------------------------- reading

    [<Struct>]
    type private Entry =
        {
            Name: string
            Dims: int[]
            Begin: int64
            End: int64
        }

    let private describe (e: JsonElement) =
        let raw = e.GetRawText()

        if raw.Length > 60 then
            raw.Substring(0, 57) + "..."
        else
            raw

    /// Parses and validates a whole file's bytes; filePath (or null) goes into every error.
    let private parse (filePath: string) (bytes: byte[]) : SafetensorsFile =
        let where =
            if isNull filePath then
                "safetensors data"
            else
                sprintf "safetensors file '%s'" filePath

        let fail (tensor: string) (inner: exn) (msg: string) =
            raise (SafetensorsException(where + ": " + msg, filePath, tensor, inner))

        if bytes.Length < 8 then
            fail null null (sprintf "the data is %d bytes long, too short for the 8-byte header length" bytes.Length)

        let n = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(bytes, 0, 8))

        if n > uint64 MaxHeaderBytes then
            fail
                null
                null
                (sprintf
                    "the header length field says %d bytes, more than the %d-byte limit: not a safetensors file, or corrupt"
                    n
                    MaxHeaderBytes)

        if int64 n > int64 bytes.Length - 8L then
            fail
                null
                null
                (sprintf
                    "the header length field says %d bytes but only %d bytes follow it (truncated header)"
                    n
                    (bytes.Length - 8))

        let headerLength = int n
        let bufferStart = 8 + headerLength
        let bufferLength = int64 (bytes.Length - bufferStart)

        if not (Text.Unicode.Utf8.IsValid(ReadOnlySpan(bytes, 8, headerLength))) then
            fail null null "the header is not valid UTF-8"

        let doc =
            try
                JsonDocument.Parse(ReadOnlyMemory(bytes, 8, headerLength))
            with e ->
                fail null e (sprintf "the header is not valid JSON: %s" e.Message)

        use doc = doc
        let root = doc.RootElement

        if root.ValueKind <> JsonValueKind.Object then
            fail null null (sprintf "the header must be a JSON object, found a JSON %O" root.ValueKind)

        let names = HashSet<string>(StringComparer.Ordinal)
        let entries = List<Entry>()
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
                        Dims = dims
                        Begin = b
                        End = e
                    }

        // The tensors must tile the buffer: sorted by offsets, each starts where the previous one ended.
        let sorted = entries |> List.ofSeq |> List.sortBy (fun e -> struct (e.Begin, e.End)) // stable

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

        let tensors =
            [
                for e in sorted do
                    let shape = Shape e.Dims
                    let data = Array.zeroCreate<float32> shape.Numel
                    let start = bufferStart + int e.Begin
                    let length = int (e.End - e.Begin)

                    if BitConverter.IsLittleEndian then
                        Buffer.BlockCopy(bytes, start, data, 0, length)
                    else
                        for i in 0 .. data.Length - 1 do
                            data[i] <- BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(bytes, start + 4 * i, 4))

                    e.Name, Tensor(shape, data, 0, null, null, 0)
            ]

        {
            Tensors = tensors
            Metadata = metadata
        }

    /// <summary>Reads safetensors bytes. The tensors live on the GC heap (never in an arena) and share no
    /// storage with <paramref name="bytes"/>.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The bytes are not a valid safetensors file of F32 tensors.</exception>
    let ofBytes (bytes: byte[]) : SafetensorsFile =
        if isNull bytes then
            nullArg (nameof bytes)

        parse null bytes

    /// <summary>Reads a safetensors file (up to 2 GB); errors name the file.</summary>
    /// <param name="path">The file to read.</param>
    /// <exception cref="T:Qmix.Tensors.SafetensorsException">The file is not a valid safetensors file of F32 tensors.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    let load (path: string) : SafetensorsFile =
        if String.IsNullOrEmpty path then
            invalidArg (nameof path) "the path is null or empty"

        parse path (File.ReadAllBytes path)

    /// <summary>The tensor of a given name, if the file has one.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="file">The file's contents.</param>
    let tryFind (name: string) (file: SafetensorsFile) : Tensor option =
        file.Tensors |> List.tryPick (fun (n, t) -> if n = name then Some t else None)
