module Qmix.Tensors.Tests.SafetensorsTests

#nowarn "9" // a span over native memory: a zero-filled tensor larger than 2 GB that is never touched

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open System.Text
open Expecto
open Qmix.Tests
open FsCheck
open FsCheck.FSharp
open Qmix.Tensors

let private tensor (dims: int[]) (data: float32[]) =
    Tensor(Shape dims, data, 0, null, null, 0)

let private bitsOf (t: Tensor) =
    t.ToArray() |> Array.map BitConverter.SingleToInt32Bits

/// A file made from a header given as JSON text (unpadded) and a data buffer.
let private fileOf (json: string) (data: byte[]) =
    let header = Encoding.UTF8.GetBytes json
    Array.concat [ BitConverter.GetBytes(uint64 header.Length); header; data ]

let private floatBytes (xs: float32[]) =
    xs |> Array.collect BitConverter.GetBytes

let private entry (dtype: string) (shape: string) (b: int) (e: int) =
    sprintf "{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%d,%d]}" dtype shape b e

/// Reads bytes that must be rejected; returns the exception.
let private rejected (bytes: byte[]) =
    Expect.throwsOf<SafetensorsException>(fun () -> Safetensors.ofBytes bytes |> ignore)

let private withTempDir (body: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("qmix-safetensors-")

    try
        body dir.FullName
    finally
        dir.Delete true

// ------------------------------------------------------------------ the exact bytes

let ``toBytes writes the bytes the format specifies`` () =
    let json = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""
    Expect.equal json.Length 54 "json.Length"
    // 54 bytes of JSON padded with 2 spaces to 56, a multiple of 8, so the data is 8-byte aligned.
    let expected =
        Array.concat
            [
                [| 56uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]
                Encoding.ASCII.GetBytes(json + "  ")
                [| 0x00uy; 0x00uy; 0x80uy; 0x3Fuy; 0x00uy; 0x00uy; 0x00uy; 0x40uy |]
            ]

    let actual = Safetensors.toBytes Map.empty [ "a", tensor [| 2 |] [| 1.0f; 2.0f |] ]
    Expect.equal actual expected "actual"

let ``metadata comes first and tensors keep the order given`` () =
    let json =
        """{"__metadata__":{"format":"pt","step":"7"},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1,0],"data_offsets":[4,4]}}"""

    let padding = (8 - json.Length % 8) % 8

    let expected =
        Array.concat
            [
                BitConverter.GetBytes(uint64 (json.Length + padding))
                Encoding.ASCII.GetBytes(json + String(' ', padding))
                floatBytes [| -1.5f |]
            ]

    let actual =
        Safetensors.toBytes
            (Map [ "step", "7"; "format", "pt" ])
            [ "b", tensor [||] [| -1.5f |]; "a", tensor [| 1; 0 |] [||] ]

    Expect.equal actual expected "actual"

let ``reading accepts unpadded, indented and reordered headers`` () =
    let data = floatBytes [| 1.0f; 2.0f; 3.0f |]

    let headers =
        [
            """{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"""
            "{\n  \"x\": {\n    \"data_offsets\": [0, 12],\n    \"shape\": [3],\n    \"dtype\": \"F32\"\n  }\n}     "
            """{"x":{"shape":[1,3],"dtype":"F32","data_offsets":[0,12]},"__metadata__":{}}"""
        ]

    for h in headers do
        let f = Safetensors.ofBytes (fileOf h data)
        let name, t = List.exactlyOne f.Tensors
        Expect.equal name "x" "name"
        Expect.equal (t.ToArray()) ([| 1.0f; 2.0f; 3.0f |]) "t.ToArray()"
        Expect.isTrue f.Metadata.IsEmpty "f.Metadata.IsEmpty"

let ``tensors are returned in data-offset order`` () =
    let json =
        sprintf
            "{\"late\":%s,\"early\":%s,\"empty\":%s}"
            (entry "F32" "[1]" 4 8)
            (entry "F32" "[1]" 0 4)
            (entry "F32" "[0]" 8 8)

    let f = Safetensors.ofBytes (fileOf json (floatBytes [| 10.0f; 20.0f |]))
    Expect.equal (List.map fst f.Tensors) ([ "early"; "late"; "empty" ]) "List.map fst f.Tensors"
    Expect.equal ((Safetensors.tryFind "late" f).Value.Scalar) 20.0f "(Safetensors.tryFind \"late\" f).Value.Scalar"
    Expect.isTrue ((Safetensors.tryFind "missing" f).IsNone) "(Safetensors.tryFind \"missing\" f).IsNone"

// ------------------------------------------------------------------ round trips

let private shapeGen =
    gen {
        let! rank = Gen.choose (0, 4)

        let! dims =
            Gen.arrayOfLength rank (Gen.frequency [ 1, Gen.constant 0; 6, Gen.choose (1, 4) ])

        return dims
    }

let private nameGen =
    Gen.oneof
        [
            Gen.elements
                [
                    "agent.fc1.weight"
                    "mixer.hyper_w1.0.bias"
                    ""
                    "quote\"back\\slash"
                    "ünïcødé/名前"
                    "tab\tnew\nline"
                    "<html>&'+"
                ]
            ArbMap.defaults
            |> ArbMap.generate<string>
            |> Gen.filter (fun s -> not (isNull s) && not (s |> Seq.exists Char.IsSurrogate))
        ]
    |> Gen.filter (fun s -> s <> "__metadata__")

let private floatGen =
    Gen.oneof
        [
            ArbMap.defaults |> ArbMap.generate<float32>
            Gen.elements [ nanf; infinityf; -infinityf; -0.0f; Single.Epsilon; Single.MaxValue ]
        ]

let private tensorsGen =
    gen {
        let! names = Gen.listOf nameGen
        let names = List.distinct names

        let! tensors =
            names
            |> List.map (fun name ->
                gen {
                    let! dims = shapeGen
                    let! data = Gen.arrayOfLength (Array.fold (*) 1 dims) floatGen
                    return name, tensor dims data
                })
            |> Gen.sequenceToList

        let! meta = Gen.listOf (Gen.zip nameGen nameGen)
        return Map meta, tensors
    }

let ``toBytes then ofBytes gives back the tensors, bit for bit, and the metadata`` () =
    (Prop.forAll (Arb.fromGen tensorsGen) (fun (meta, tensors) ->
        let bytes = Safetensors.toBytes meta tensors
        let f = Safetensors.ofBytes bytes
        let headerLength = BitConverter.ToUInt64(bytes, 0)

        headerLength % 8UL = 0UL
        && f.Metadata = meta
        && List.map fst f.Tensors = List.map fst tensors
        && List.forall2
            (fun (_, a: Tensor) (_, b: Tensor) -> a.Shape = b.Shape && bitsOf a = bitsOf b)
            f.Tensors
            tensors
        // Writing what was read gives the same bytes.
        && Safetensors.toBytes f.Metadata f.Tensors = bytes))

let ``save then load gives back the tensors`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "model.safetensors")
        let key = Rng.key 1UL
        let w = Rng.normal key (Shape [| 4; 3 |])
        Safetensors.save path (Map [ "rng", string (Rng.toWords key) ]) [ "w", w; "s", tensor [||] [| 2.0f |] ]
        let f = Safetensors.load path
        Expect.equal ((snd f.Tensors.Head).ToArray()) (w.ToArray()) "(snd f.Tensors.Head).ToArray()"
        Expect.equal ((snd f.Tensors.Head).Shape) (Shape [| 4; 3 |]) "(snd f.Tensors.Head).Shape"
        Expect.equal (f.Metadata["rng"]) (string (Rng.toWords key)) "f.Metadata[\"rng\"]"
        Expect.equal (Directory.GetFiles dir) ([| path |]) "Directory.GetFiles dir")

// ------------------------------------------------------------------ corrupt files

let private twoTensors =
    Safetensors.toBytes
        (Map [ "k", "v" ])
        [
            "agent.fc1.weight", tensor [| 2; 3 |] (Array.init 6 float32)
            "agent.fc1.bias", tensor [| 3 |] [| 1.0f; 2.0f; 3.0f |]
        ]

let ``every truncation is rejected with the right reason`` () =
    let headerEnd = 8 + int (BitConverter.ToUInt64(twoTensors, 0))

    for cut in 0 .. twoTensors.Length - 1 do
        let e = rejected twoTensors[.. cut - 1]

        let reason =
            if cut < 8 then "too short for the 8-byte header length"
            elif cut < headerEnd then "truncated header"
            else "past the end of the"

        Expect.stringContains e.Message reason "e.Message"
        Expect.stringStarts e.Message "safetensors data: " "e.Message"

let ``errors from load name the file`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "broken.safetensors")
        File.WriteAllBytes(path, twoTensors[.. twoTensors.Length - 5])

        let e =
            Expect.throwsOf<SafetensorsException>(fun () -> Safetensors.load path |> ignore)

        Expect.stringContains e.Message path "e.Message"
        Expect.equal e.FilePath path "e.FilePath"
        Expect.equal e.TensorName "agent.fc1.bias" "e.TensorName"
        Expect.stringContains e.Message "truncated data" "e.Message"
        Expect.isAssignableTo<FormatException> e |> ignore)

let ``dtypes other than F32 are named`` () =
    for dtype in [ "F16"; "BF16"; "I64"; "F64"; "U8" ] do
        let json = sprintf "{\"agent.fc1.weight\":%s}" (entry dtype "[2]" 0 8)
        let e = rejected (fileOf json (Array.zeroCreate 8))

        Expect.stringContains
            e.Message
            (sprintf "tensor 'agent.fc1.weight' has dtype %s; only F32 is supported" dtype)
            "e.Message"

        Expect.equal e.TensorName "agent.fc1.weight" "e.TensorName"

let ``a dtype flipped in place is rejected`` () =
    let flipped =
        Encoding.Latin1.GetBytes((Encoding.Latin1.GetString twoTensors).Replace("\"F32\"", "\"F16\""))

    Expect.equal flipped.Length twoTensors.Length "flipped.Length"

    Expect.stringContains
        ((rejected flipped).Message)
        "has dtype F16; only F32 is supported"
        "(rejected flipped).Message"

let ``headers that are not a JSON object are rejected`` () =
    let cases =
        [
            """{"a":{"dtype":"F32","shape":[2]""", "not valid JSON"
            """{"a":{"dtype":"F32",}}""", "not valid JSON"
            "", "not valid JSON"
            """[1,2]""", "must be a JSON object"
            "\"text\"", "must be a JSON object"
            """{"a":[0,8]}""", "tensor 'a' must be an object"
        ]

    for json, reason in cases do
        Expect.stringContains
            ((rejected (fileOf json (Array.zeroCreate 8))).Message)
            reason
            "(rejected (fileOf json (Array.zeroCreate 8))).Message"

    // Invalid UTF-8 inside a string.
    let header =
        Array.append
            (Encoding.ASCII.GetBytes "{\"")
            (Array.append [| 0xFFuy; 0xFEuy |] (Encoding.ASCII.GetBytes "\":1}"))

    let bytes = Array.append (BitConverter.GetBytes(uint64 header.Length)) header
    Expect.stringContains ((rejected bytes).Message) "not valid UTF-8" "(rejected bytes).Message"

let ``entries with missing or malformed fields are rejected`` () =
    let cases =
        [
            """{"t":{"shape":[2],"data_offsets":[0,8]}}""", "tensor 't' has no dtype"
            """{"t":{"dtype":"F32","data_offsets":[0,8]}}""", "tensor 't' has no shape"
            """{"t":{"dtype":"F32","shape":[2]}}""", "tensor 't' has no data_offsets"
            """{"t":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}""", "tensor 't' has dtype 32; it must be a string"
            """{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "non-negative integers"
            """{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", "non-negative integers"
            """{"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", "non-negative integers"
            """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", "two non-negative integers"
            """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}}""", "two non-negative integers"
            """{"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}""", "two non-negative integers"
            """{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "end before they begin"
            """{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""",
            "needs 12 bytes of F32 data, but data_offsets [0, 8] cover 8"
            """{"t":{"dtype":"F32","shape":[65536,65536],"data_offsets":[0,8]}}""", "more than 2147483647 elements"
            """{"__metadata__":{"k":1},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""",
            "must map strings to strings"
            """{"__metadata__":[],"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""",
            "must be an object of strings"
        ]

    for json, reason in cases do
        let e = rejected (fileOf json (Array.zeroCreate 8))
        Expect.stringContains e.Message reason "e.Message"

let ``offsets must tile the buffer exactly`` () =
    let cases =
        [
            sprintf "{\"a\":%s,\"b\":%s}" (entry "F32" "[2]" 0 8) (entry "F32" "[2]" 4 12),
            12,
            "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a'"
            sprintf "{\"a\":%s,\"b\":%s}" (entry "F32" "[2]" 0 8) (entry "F32" "[2]" 0 8), 8, "overlaps tensor 'a'"
            sprintf "{\"a\":%s,\"b\":%s}" (entry "F32" "[2]" 0 8) (entry "F32" "[1]" 12 16),
            16,
            "bytes [8, 12) of the data buffer belong to no tensor"
            sprintf "{\"a\":%s}" (entry "F32" "[2]" 4 12), 12, "bytes [0, 4) of the data buffer belong to no tensor"
            sprintf "{\"a\":%s}" (entry "F32" "[2]" 0 8),
            12,
            "the data buffer is 12 bytes but the tensors cover only the first 8"
            sprintf "{\"a\":%s}" (entry "F32" "[2]" 0 8), 4, "past the end of the 4-byte data buffer"
            sprintf "{\"a\":%s}" (entry "F32" "[0]" 16 16), 0, "past the end"
            "{}", 4, "trailing bytes"
        ]

    for json, bufferLength, reason in cases do
        Expect.stringContains
            ((rejected (fileOf json (Array.zeroCreate bufferLength))).Message)
            reason
            "(rejected (fileOf json (Array.zeroCreate bufferLength))).Message"

    // An empty file of tensors is valid.
    Expect.isEmpty
        ((Safetensors.ofBytes (fileOf "{}" [||])).Tensors)
        "(Safetensors.ofBytes (fileOf \"{}\" [||])).Tensors"

let ``duplicate names in a header are rejected`` () =
    let json =
        sprintf "{\"a\":%s,\"a\":%s}" (entry "F32" "[1]" 0 4) (entry "F32" "[1]" 4 8)

    let e = rejected (fileOf json (Array.zeroCreate 8))
    Expect.stringContains e.Message "'a' appears more than once" "e.Message"

let ``bad header lengths are rejected`` () =
    let lengthOnly (n: uint64) (rest: int) =
        Array.append (BitConverter.GetBytes n) (Array.create rest (byte ' '))

    Expect.stringContains
        ((rejected (lengthOnly 100UL 50)).Message)
        "truncated header"
        "(rejected (lengthOnly 100UL 50)).Message"

    Expect.stringContains
        ((rejected (lengthOnly (1UL <<< 40) 50)).Message)
        "more than the 100000000-byte limit"
        "(rejected (lengthOnly (1UL <<< 40) 50)).Message"

    Expect.stringContains
        ((rejected (lengthOnly UInt64.MaxValue 50)).Message)
        "more than the 100000000-byte limit"
        "(rejected (lengthOnly UInt64.MaxValue 50)).Message"

    Expect.stringContains ((rejected [| 1uy; 2uy; 3uy |]).Message) "too short" "(rejected [| 1uy; 2uy; 3uy |]).Message"

// ------------------------------------------------------------------ bad arguments when writing

let ``writing duplicate or reserved names throws ArgumentException`` () =
    let t = tensor [| 1 |] [| 1.0f |]

    let dup =
        Expect.throwsOf<ArgumentException>(fun () -> Safetensors.toBytes Map.empty [ "w", t; "w", t ] |> ignore)

    Expect.stringContains dup.Message "'w' appears more than once" "dup.Message"

    let reserved =
        Expect.throwsOf<ArgumentException>(fun () -> Safetensors.toBytes Map.empty [ "__metadata__", t ] |> ignore)

    Expect.stringContains reserved.Message "__metadata__" "reserved.Message"

    let surrogate =
        Expect.throwsOf<ArgumentException>(fun () ->
            Safetensors.toBytes Map.empty [ "w" + string (char 0xD800), t ] |> ignore)

    Expect.stringContains surrogate.Message "lone surrogate" "surrogate.Message"

    Expect.throwsOf<ArgumentException>(fun () -> Safetensors.toBytes (Map [ "k", string (char 0xDC00) ]) [] |> ignore)
    |> ignore

    withTempDir (fun dir ->
        let path = Path.Combine(dir, "x.safetensors")

        Expect.throwsOf<ArgumentException>(fun () -> Safetensors.save path Map.empty [ "w", t; "w", t ])
        |> ignore

        Expect.isEmpty (Directory.GetFileSystemEntries dir) "Directory.GetFileSystemEntries dir")

// ------------------------------------------------------------------ atomic save

let ``a failed save leaves the previous file untouched and no temporary file`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "ckpt.safetensors")
        Safetensors.save path Map.empty [ "w", tensor [| 2 |] [| 1.0f; 2.0f |] ]
        let before = File.ReadAllBytes path
        // A tensor whose storage came from an arena scope that has ended: reading its data throws, after the
        // header and the first tensor have been written.
        let stale = Arena.Scope(fun _ -> Rng.uniform (Rng.key 1UL) (Shape [| 1000 |]))
        Expect.isFalse stale.IsLive "stale.IsLive"

        Expect.throwsOf<InvalidOperationException>(fun () ->
            Safetensors.save path Map.empty [ "ok", tensor [| 3 |] [| 1.0f; 2.0f; 3.0f |]; "stale", stale ])
        |> ignore

        Expect.equal (File.ReadAllBytes path) before "File.ReadAllBytes path"
        Expect.equal (Directory.GetFileSystemEntries dir) ([| path |]) "Directory.GetFileSystemEntries dir")

let ``saving over an existing file replaces it and leaves no temporary file`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "ckpt.safetensors")
        Safetensors.save path Map.empty [ "w", tensor [| 1 |] [| 1.0f |] ]
        Safetensors.save path (Map [ "v", "2" ]) [ "w", tensor [| 1 |] [| 2.0f |] ]
        let f = Safetensors.load path
        Expect.equal ((snd f.Tensors.Head).Scalar) 2.0f "(snd f.Tensors.Head).Scalar"
        Expect.equal (f.Metadata["v"]) "2" "f.Metadata[\"v\"]"
        Expect.equal (Directory.GetFileSystemEntries dir) ([| path |]) "Directory.GetFileSystemEntries dir")

let ``saving where the file cannot be written leaves nothing behind`` () =
    withTempDir (fun dir ->
        let t = [ "w", tensor [| 1 |] [| 1.0f |] ]
        // The directory does not exist.
        let missing = Path.Combine(dir, "no-such-dir", "x.safetensors")

        Expect.throwsAnyOf<IOException>(fun () -> Safetensors.save missing Map.empty t)
        |> ignore

        Expect.isEmpty (Directory.GetFileSystemEntries dir) "Directory.GetFileSystemEntries dir"
        // The path is a directory: writing the temporary file succeeds, the final rename fails.
        let occupied = Path.Combine(dir, "occupied")
        Directory.CreateDirectory occupied |> ignore

        Expect.throwsAnyOf<Exception>(fun () -> Safetensors.save occupied Map.empty t)
        |> ignore

        Expect.equal (Directory.GetFileSystemEntries dir) ([| occupied |]) "Directory.GetFileSystemEntries dir"
        Expect.isEmpty (Directory.GetFileSystemEntries occupied) "Directory.GetFileSystemEntries occupied")

// ------------------------------------------------------------------ streaming: layout, writer, reader

/// A stream that counts the bytes written to it and keeps none of them.
type private CountingStream() =
    inherit Stream()
    member val Count = 0L with get, set
    override _.CanRead = false
    override _.CanSeek = false
    override _.CanWrite = true
    override s.Length = s.Count

    override s.Position
        with get () = s.Count
        and set _ = raise (NotSupportedException())

    override _.Flush() = ()
    override _.Read(_: byte[], _: int, _: int) = raise (NotSupportedException())
    override _.Seek(_: int64, _: SeekOrigin) = raise (NotSupportedException())
    override _.SetLength _ = raise (NotSupportedException())
    override s.Write(_: byte[], _: int, count: int) = s.Count <- s.Count + int64 count

    override s.Write(buffer: ReadOnlySpan<byte>) =
        s.Count <- s.Count + int64 buffer.Length

/// A source that writes its values in pieces of a given size (the last may be shorter).
let private piecewise (name: string) (dims: int[]) (data: float32[]) (pieceSize: int) =
    {
        Name = name
        Shape = Shape dims
        Write =
            fun sink ->
                let mutable i = 0

                while i < data.Length do
                    let n = min pieceSize (data.Length - i)
                    sink.Write(ReadOnlySpan(data, i, n))
                    i <- i + n
    }

let ``write streams sources to the same bytes as toBytes, whatever the pieces`` () =
    (Prop.forAll (Arb.fromGen (Gen.zip tensorsGen (Gen.choose (1, 7)))) (fun ((meta, tensors), pieceSize) ->
        let sources =
            tensors
            |> List.map (fun (n, t: Tensor) -> piecewise n (t.Shape.ToArray()) (t.ToArray()) pieceSize)

        use stream = new MemoryStream()
        Safetensors.write stream meta sources
        let l = Safetensors.layout meta (tensors |> List.map (fun (n, t) -> n, t.Shape))

        stream.ToArray() = Safetensors.toBytes meta tensors
        && stream.Length = l.FileBytes))

let ``integers and single values are written as float32`` () =
    let source =
        {
            Name = "mixed"
            Shape = Shape [| 6 |]
            Write =
                fun sink ->
                    sink.Write [| 3; -1 |]
                    sink.Write 2.5f
                    sink.Write(ReadOnlySpan [| 7; 0 |])
                    Expect.equal sink.Remaining 1L "sink.Remaining"
                    Expect.equal sink.Name "mixed" "sink.Name"
                    sink.Write [| 9.0f |]
        }

    use stream = new MemoryStream()
    Safetensors.write stream Map.empty [ source ]
    let f = Safetensors.ofBytes (stream.ToArray())

    Expect.equal
        ((snd f.Tensors.Head).ToArray())
        ([| 3.0f; -1.0f; 2.5f; 7.0f; 0.0f; 9.0f |])
        "(snd f.Tensors.Head).ToArray()"

let ``a source that writes too many or too few values is named, and saveStreamed leaves nothing`` () =
    let sourceOf (count: int) =
        {
            Name = "replay.obs.3"
            Shape = Shape [| 2; 2 |]
            Write = fun sink -> sink.Write(Array.zeroCreate<float32> count)
        }

    for count, text in [ 5, "more values than the 4"; 3, "wrote 3 values, but its shape holds 4" ] do
        let e =
            Expect.throwsOf<InvalidOperationException>(fun () ->
                Safetensors.write (new MemoryStream()) Map.empty [ sourceOf count ])

        Expect.stringContains e.Message "'replay.obs.3'" "e.Message"
        Expect.stringContains e.Message text "e.Message"

        withTempDir (fun dir ->
            Expect.throwsOf<InvalidOperationException>(fun () ->
                Safetensors.saveStreamed (Path.Combine(dir, "x.safetensors")) Map.empty [ sourceOf count ])
            |> ignore

            Expect.isEmpty (Directory.GetFileSystemEntries dir) "Directory.GetFileSystemEntries dir")

let ``a source that fails midway leaves the previous file untouched and no temporary file`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "ckpt.safetensors")
        Safetensors.save path Map.empty [ "w", tensor [| 2 |] [| 1.0f; 2.0f |] ]
        let before = File.ReadAllBytes path

        let failing =
            {
                Name = "big"
                Shape = Shape [| 1 <<< 20 |]
                Write =
                    fun sink ->
                        sink.Write(Array.zeroCreate<float32>(1 <<< 19))
                        raise (IOException "No space left on device (simulated)")
            }

        let e =
            Expect.throwsOf<IOException>(fun () -> Safetensors.saveStreamed path Map.empty [ failing ])

        Expect.stringContains e.Message "simulated" "e.Message"
        Expect.equal (File.ReadAllBytes path) before "File.ReadAllBytes path"
        Expect.equal (Directory.GetFileSystemEntries dir) ([| path |]) "Directory.GetFileSystemEntries dir")

let ``the layout of tensors past 4 GB has exact 64-bit offsets`` () =
    // three tensors of 2^30 elements (4 GB each) and a small one: nothing of that size is allocated
    let big = Shape [| 1 <<< 15; 1 <<< 15 |]

    let l =
        Safetensors.layout (Map [ "k", "v" ]) [ "a", big; "b", big; "c", big; "d", Shape [| 3 |] ]

    let gb4 = 1L <<< 32

    let offsets =
        l.Entries |> Array.map (fun e -> e.Name, e.Begin, e.End) |> Array.toList

    Expect.equal
        offsets
        ([
            "a", 0L, gb4
            "b", gb4, 2L * gb4
            "c", 2L * gb4, 3L * gb4
            "d", 3L * gb4, 3L * gb4 + 12L
        ])
        "offsets"

    Expect.equal l.DataBytes (3L * gb4 + 12L) "l.DataBytes"
    Expect.equal l.FileBytes (8L + int64 l.Header.Length + l.DataBytes) "l.FileBytes"
    Expect.equal (l.Entries[0].Numel) (1L <<< 30) "l.Entries[0].Numel"
    // the header says the same
    use doc = JsonDocument.Parse(l.Header)
    let c = doc.RootElement.GetProperty("c").GetProperty("data_offsets")
    Expect.equal (c[0].GetInt64()) (2L * gb4) "c[0].GetInt64()"
    Expect.equal (c[1].GetInt64()) (3L * gb4) "c[1].GetInt64()"
    // one tensor of more than Int32.MaxValue elements is refused, by name
    let e =
        Expect.throwsOf<ArgumentException>(fun () ->
            Safetensors.layout Map.empty [ "replay.obs", Shape [| 2; 1 <<< 30 |] ] |> ignore)

    Expect.stringContains e.Message "'replay.obs'" "e.Message"
    Expect.stringContains e.Message "at most 2147483647" "e.Message"

let ``a span of more than 2^29 values is written in pieces (no overflow past 2 GB)`` () =
    // 2^29 + 8 floats = 2 GB + 32 bytes of zeroed native memory that is never touched: the writer used to turn
    // a tensor's span into one byte span, whose length overflows an int past 2 GB
    let count = (1 <<< 29) + 8
    let memory = NativeMemory.AllocZeroed(unativeint count * 4un)

    try
        let source =
            {
                Name = "replay.obs"
                Shape = Shape [| count |]
                Write = fun sink -> sink.Write(ReadOnlySpan<float32>(memory, count))
            }

        use stream = new CountingStream()
        Safetensors.write stream Map.empty [ source; { source with Name = "again" } ]

        let l =
            Safetensors.layout Map.empty [ "replay.obs", Shape [| count |]; "again", Shape [| count |] ]

        Expect.equal stream.Count l.FileBytes "stream.Count"
        Expect.isTrue (stream.Count > (1L <<< 32)) "stream.Count > (1L <<< 32)"
    finally
        NativeMemory.Free memory

let ``openRead reads tensors and ranges of them as ofBytes does`` () =
    Prop.forAll (Arb.fromGen tensorsGen) (fun (meta, tensors) ->
        // each case in its own directory, so the cases stay independent of one another
        let dir = Directory.CreateTempSubdirectory("qmix-safetensors-")

        try
            let path = Path.Combine(dir.FullName, "f.safetensors")
            Safetensors.save path meta tensors
            use r = Safetensors.openRead path
            let expected = Safetensors.ofBytes (File.ReadAllBytes path)

            r.Metadata = meta
            && (r.Entries |> List.map (fun e -> e.Name)) = List.map fst expected.Tensors
            && expected.Tensors
               |> List.forall (fun (n, t) ->
                   let whole = r.Read n
                   let all = t.ToArray()
                   // every range of up to 3 values
                   let ranges =
                       [
                           for start in 0 .. all.Length do
                               for len in 0 .. min 3 (all.Length - start) do
                                   let part = Array.zeroCreate<float32> len
                                   r.ReadInto(n, int64 start, Span part)

                                   bitsOf (tensor [| len |] part) =
                                       bitsOf (tensor [| len |] all[start .. start + len - 1])
                       ]

                   whole.Shape = t.Shape && bitsOf whole = bitsOf t && List.forall id ranges)
        finally
            dir.Delete true)

let ``openRead names the file and the tensor for a missing tensor or a range outside one`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "f.safetensors")
        Safetensors.save path Map.empty [ "w", tensor [| 2; 2 |] [| 1.0f; 2.0f; 3.0f; 4.0f |] ]
        use r = Safetensors.openRead path

        let missing =
            Expect.throwsOf<ArgumentException>(fun () -> r.Read "replay.obs.0" |> ignore)

        Expect.stringContains missing.Message path "missing.Message"
        Expect.stringContains missing.Message "no tensor 'replay.obs.0'" "missing.Message"

        let outside =
            Expect.throwsAnyOf<ArgumentOutOfRangeException>(fun () -> r.ReadInto("w", 3L, Span(Array.zeroCreate 2)))

        Expect.stringContains outside.Message "tensor 'w'" "outside.Message"
        Expect.isTrue (r.TryFindEntry("w").IsSome) "r.TryFindEntry(\"w\").IsSome"
        Expect.isTrue (r.TryFindEntry("v").IsNone) "r.TryFindEntry(\"v\").IsNone")

let ``a file past 4 GB is read at 64-bit offsets (a sparse file)`` () =
    withTempDir (fun dir ->
        let path = Path.Combine(dir, "big.safetensors")
        // "a": 2^30 elements (4 GB), then "b": 4 elements at byte 2^32 of the data buffer
        let l =
            Safetensors.layout Map.empty [ "a", Shape [| 1 <<< 30 |]; "b", Shape [| 4 |] ]

        let dataStart = 8L + int64 l.Header.Length

        do
            use fs = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite)
            fs.Write(BitConverter.GetBytes(uint64 l.Header.Length), 0, 8)
            fs.Write(l.Header, 0, l.Header.Length)
            // the rest stays a hole: the file system stores no zeros for it
            fs.SetLength l.FileBytes

            let put (position: int64) (values: float32[]) =
                RandomAccess.Write(fs.SafeFileHandle, ReadOnlySpan(floatBytes values), position)

            put (dataStart + l.Entries[1].Begin) [| 1.0f; 2.0f; 3.0f; 4.0f |]
            // the last two values of "a", past byte 2^32 - 8 of the data
            put (dataStart + 4L * ((1L <<< 30) - 2L)) [| 5.0f; 6.0f |]
            // one value past byte 2^31, where a 32-bit offset would wrap
            put (dataStart + 4L * ((1L <<< 29) + 3L)) [| 7.0f |]

        use r = Safetensors.openRead path
        Expect.equal (r.Entries |> List.map (fun e -> e.Name)) ([ "a"; "b" ]) "r.Entries |> List.map (fun e -> e.Name)"
        Expect.equal ((r.Read "b").ToArray()) ([| 1.0f; 2.0f; 3.0f; 4.0f |]) "(r.Read \"b\").ToArray()"
        let tail = Array.zeroCreate<float32> 3
        r.ReadInto("a", (1L <<< 30) - 3L, Span tail)
        Expect.equal tail ([| 0.0f; 5.0f; 6.0f |]) "tail"
        let mid = Array.zeroCreate<float32> 2
        r.ReadInto("a", (1L <<< 29) + 3L, Span mid)
        Expect.equal mid ([| 7.0f; 0.0f |]) "mid")

[<Tests>]
let tests =
    testList
        "Safetensors"
        [
            testCase "toBytes writes the bytes the format specifies" ``toBytes writes the bytes the format specifies``
            testCase
                "metadata comes first and tensors keep the order given"
                ``metadata comes first and tensors keep the order given``
            testCase
                "reading accepts unpadded, indented and reordered headers"
                ``reading accepts unpadded, indented and reordered headers``
            testCase "tensors are returned in data-offset order" ``tensors are returned in data-offset order``
            testPropertyWithConfig
                (Replay.config 100)
                "toBytes then ofBytes gives back the tensors, bit for bit, and the metadata"
                (``toBytes then ofBytes gives back the tensors, bit for bit, and the metadata`` ())
            testCase "save then load gives back the tensors" ``save then load gives back the tensors``
            testCase
                "every truncation is rejected with the right reason"
                ``every truncation is rejected with the right reason``
            testCase "errors from load name the file" ``errors from load name the file``
            testCase "dtypes other than F32 are named" ``dtypes other than F32 are named``
            testCase "a dtype flipped in place is rejected" ``a dtype flipped in place is rejected``
            testCase
                "headers that are not a JSON object are rejected"
                ``headers that are not a JSON object are rejected``
            testCase
                "entries with missing or malformed fields are rejected"
                ``entries with missing or malformed fields are rejected``
            testCase "offsets must tile the buffer exactly" ``offsets must tile the buffer exactly``
            testCase "duplicate names in a header are rejected" ``duplicate names in a header are rejected``
            testCase "bad header lengths are rejected" ``bad header lengths are rejected``
            testCase
                "writing duplicate or reserved names throws ArgumentException"
                ``writing duplicate or reserved names throws ArgumentException``
            testCase
                "a failed save leaves the previous file untouched and no temporary file"
                ``a failed save leaves the previous file untouched and no temporary file``
            testCase
                "saving over an existing file replaces it and leaves no temporary file"
                ``saving over an existing file replaces it and leaves no temporary file``
            testCase
                "saving where the file cannot be written leaves nothing behind"
                ``saving where the file cannot be written leaves nothing behind``
            testPropertyWithConfig
                (Replay.config 100)
                "write streams sources to the same bytes as toBytes, whatever the pieces"
                (``write streams sources to the same bytes as toBytes, whatever the pieces`` ())
            testCase
                "integers and single values are written as float32"
                ``integers and single values are written as float32``
            testCase
                "a source that writes too many or too few values is named, and saveStreamed leaves nothing"
                ``a source that writes too many or too few values is named, and saveStreamed leaves nothing``
            testCase
                "a source that fails midway leaves the previous file untouched and no temporary file"
                ``a source that fails midway leaves the previous file untouched and no temporary file``
            testCase
                "the layout of tensors past 4 GB has exact 64-bit offsets"
                ``the layout of tensors past 4 GB has exact 64-bit offsets``
            testCase
                "a span of more than 2^29 values is written in pieces (no overflow past 2 GB)"
                ``a span of more than 2^29 values is written in pieces (no overflow past 2 GB)``
            testPropertyWithConfig
                (Replay.config 30)
                "openRead reads tensors and ranges of them as ofBytes does"
                (``openRead reads tensors and ranges of them as ofBytes does`` ())
            testCase
                "openRead names the file and the tensor for a missing tensor or a range outside one"
                ``openRead names the file and the tensor for a missing tensor or a range outside one``
            testCase
                "a file past 4 GB is read at 64-bit offsets (a sparse file)"
                ``a file past 4 GB is read at 64-bit offsets (a sparse file)``
        ]
