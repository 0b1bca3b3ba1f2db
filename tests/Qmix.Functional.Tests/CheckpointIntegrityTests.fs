module Qmix.Functional.Tests.CheckpointIntegrityTests

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open Expecto
open Qmix.Tests
open Qmix.Tensors
open Qmix.Functional
open Qmix.Functional.Tests.Generators
open Qmix.Functional.Tests.CheckpointTests

// ---------------------------------------------------------------- a checkpoint and its damages

/// A damage to one of a checkpoint's three files (0 model, 1 training file, 2 sidecar).
type Damage =
    /// The byte at an offset XORed with a non-zero mask.
    | Flip of file: int * offset: int64 * mask: byte
    /// The file cut at an offset (shorter than it was).
    | Truncate of file: int * offset: int64

/// The three files of a checkpoint path, in the order Damage numbers them.
let private filesOf (path: string) =
    let model, train, sidecar = Checkpoint.paths path
    [| model; train; sidecar |]

/// Where a safetensors file's data begins (8 + its header length); the sidecar has no data.
let private dataStartOf (bytes: byte[]) =
    8L + int64 (BitConverter.ToUInt64(bytes, 0))

/// Damages drawn over a checkpoint's files of the given sizes and data starts: half of them in the 8-byte length
/// and the header (where a byte is as likely to be JSON as whitespace), half anywhere.
let private damages (sizes: int64[]) (dataStarts: int64[]) =
    gen {
        let! file = Gen.choose (0, 2)
        let size = sizes[file]
        let! inHeader = Gen.elements [ true; false ]
        let limit = if inHeader then min size dataStarts[file] else size
        let! offset = Gen.choose64 (0L, limit - 1L)
        let! flip = Gen.elements [ true; true; true; false ]
        let! mask = Gen.choose (1, 255)

        return
            if flip then
                Flip(file, offset, byte mask)
            else
                Truncate(file, offset)
    }

let private apply (files: string[]) (damage: Damage) =
    match damage with
    | Flip(f, offset, mask) ->
        use fs = new FileStream(files[f], FileMode.Open, FileAccess.ReadWrite)
        fs.Position <- offset
        let b = fs.ReadByte()
        fs.Position <- offset
        fs.WriteByte(byte b ^^^ mask)
    | Truncate(f, offset) ->
        use fs = new FileStream(files[f], FileMode.Open, FileAccess.Write)
        fs.SetLength offset

/// Whether a loaded checkpoint holds exactly what was saved: parameters, targets and optimiser bit for bit, the
/// learner's counters, the replay buffer and the loop's counters.
let private sameAs (saved: TrainingState<'M>) (loaded: Checkpoint<'M>) =
    let k1, s1, o1 = optimBits saved.Learner.Optim
    let k2, s2, o2 = optimBits loaded.Learner.Optim

    bits saved.Learner.Params = bits loaded.Learner.Params
    && bits saved.Learner.Target = bits loaded.Learner.Target
    && (k1, s1, o1) = (k2, s2, o2)
    && saved.Learner.Updates = loaded.Learner.Updates
    && saved.Learner.LastTargetUpdateEpisode = loaded.Learner.LastTargetUpdateEpisode
    && saved.Replay = loaded.Replay
    && saved.Counters = loaded.Counters

/// A trained state saved (replay in chunks of 5) under dir/good, with its files' sizes and data starts.
let private fixture (dir: string) =
    let trainer, state = trained { tiny with TotalSteps = 150 }
    let good = Path.Combine(dir, "good")

    Checkpoint.saveChunked
        5
        good
        trainer.Learner
        (Training.configText trainer)
        {
            Learner = state.Learner
            Replay = state.Replay
            Counters = state.Counters
        }

    let files = filesOf good
    let sizes = files |> Array.map (fun f -> FileInfo(f).Length)

    let starts =
        [|
            dataStartOf (File.ReadAllBytes files[0])
            dataStartOf (File.ReadAllBytes files[1])
            sizes[2]
        |]

    trainer, state, good, sizes, starts

/// The outcome of loading a damaged copy of the good checkpoint: Ok when it loads the saved data exactly, Error with
/// the message when it is refused with a CheckpointException naming one of its files. Anything else (another
/// exception, different data) fails the property.
let private loadDamaged (verify: bool) (trainer: Trainer<'S, 'M>) state good (dir: string) (damage: Damage) =
    let copy = Path.Combine(dir, "copy")
    let goodFiles, files = filesOf good, filesOf copy

    for i in 0..2 do
        File.Copy(goodFiles[i], files[i], true)

    apply files damage

    match
        (try
            Ok(Checkpoint.loadWith verify copy trainer.Learner)
         with :? CheckpointException as e ->
             Error e)
    with
    | Ok loaded ->
        if not (sameAs state loaded) then
            failwithf "%A loaded different data without an error" damage

        None
    | Error e ->
        if not (Array.contains e.FilePath files) || not (e.Message.Contains e.FilePath) then
            failwithf "%A: the error names no file of the checkpoint: %s" damage e.Message

        Some e.Message

// ---------------------------------------------------------------- properties

let ``every flipped byte or truncation of a checkpoint's files is a named error or loads the same data`` () =
    withTempDir (fun dir ->
        let trainer, state, good, sizes, starts = fixture dir
        // negative control of the fixture: the undamaged copy loads the saved data
        Expect.isTrue (sameAs state (Checkpoint.load good trainer.Learner)) "the undamaged copy loads the saved data"
        let errors, same = ref 0, ref 0

        check
            400
            (forAll (damages sizes starts) (fun damage ->
                match loadDamaged true trainer state good dir damage with
                | Some _ -> errors.Value <- errors.Value + 1
                | None -> same.Value <- same.Value + 1))

        // nearly every damage is caught (the bytes that carry nothing are few)
        Expect.isTrue (errors.Value > 300) (sprintf "%d errors, %d identical loads" errors.Value same.Value))

let ``a byte that carries nothing changes nothing`` () =
    withTempDir (fun dir ->
        let trainer, state, good, _, _ = fixture dir
        let model = (filesOf good).[0]

        let header =
            Text.Encoding.Latin1.GetString(File.ReadAllBytes model, 0, int (dataStartOf (File.ReadAllBytes model)))
        // the "format": "pt" metadata value, which no loader reads
        let at = header.IndexOf("\"format\":\"pt\"", StringComparison.Ordinal)
        Expect.isTrue (at > 0) "the format value is in the header"
        let offset = int64 (at + "\"format\":\"".Length)

        Expect.isNone
            (loadDamaged true trainer state good dir (Flip(0, offset, 1uy)))
            "a flipped byte of the format value"
        // negative control: the same flip one byte earlier breaks the JSON and is reported
        Expect.isSome
            (loadDamaged true trainer state good dir (Flip(0, offset - 1L, 1uy)))
            "a flipped byte one earlier")

let ``a flipped byte in any tensor's data is an error naming the file and the tensor`` () =
    withTempDir (fun dir ->
        let trainer, state, good, _, _ = fixture dir
        let rng = Random 11

        for f in 0..1 do
            let file = (filesOf good)[f]
            let start = dataStartOf (File.ReadAllBytes file)
            use r = Safetensors.openRead file

            for e in r.Entries do
                if e.End > e.Begin then
                    // one byte of each tensor, chosen at random
                    let offset = start + e.Begin + rng.NextInt64(e.End - e.Begin)

                    match loadDamaged true trainer state good dir (Flip(f, offset, byte (rng.Next(1, 256)))) with
                    | Some message ->
                        Expect.stringContains message (sprintf "'%s'" e.Name) "the message names the tensor"
                    | None -> failwithf "a flipped byte of tensor '%s' in %s loaded without an error" e.Name file)

let ``a checksum mismatch names the file, the tensor and both checksums`` () =
    withTempDir (fun dir ->
        let trainer, state, good, _, _ = fixture dir
        let model = (filesOf good)[0]
        let start = dataStartOf (File.ReadAllBytes model)
        use r = Safetensors.openRead model
        let e = (r.TryFindEntry "agent.fc1.weight").Value
        // the lowest mantissa bit of the first weight: a value still plausible, caught by its checksum only
        let message =
            loadDamaged true trainer state good dir (Flip(0, start + e.Begin, 1uy))

        let copy = (filesOf (Path.Combine(dir, "copy")))[0]
        Expect.isSome message "the flip is reported"
        Expect.stringContains message.Value copy "the message names the file"
        Expect.stringContains message.Value "tensor 'agent.fc1.weight' is corrupt" "the message names the tensor"
        Expect.stringContains message.Value "CRC-32C" "the message names the checksum")

let ``negative control: with verification switched off a flipped data byte loads other data`` () =
    withTempDir (fun dir ->
        let trainer, state, good, sizes, starts = fixture dir
        let model = (filesOf good)[0]
        let start = dataStartOf (File.ReadAllBytes model)
        use r = Safetensors.openRead model
        let e = (r.TryFindEntry "agent.fc1.weight").Value
        // the same flip as above goes through unnoticed, and the loaded weights differ from the saved ones
        let ex =
            Expect.throwsAnyOf<exn>(fun () ->
                loadDamaged false trainer state good dir (Flip(0, start + e.Begin, 1uy))
                |> ignore)

        Expect.stringContains ex.Message "loaded different data without an error" "the loaded data differ"
        // and the property itself finds a counterexample without the checksums
        Expect.throwsAnyOf<exn>(fun () ->
            check 400 (forAll (damages sizes starts) (loadDamaged false trainer state good dir >> ignore)))
        |> ignore)

let ``the model file still reads as a plain safetensors file, its checksums in the metadata`` () =
    withTempDir (fun dir ->
        let _, state, good, _, _ = fixture dir
        let file = Safetensors.load (filesOf good).[0]
        let named = Tree.named state.Learner.Params

        for name, t in named do
            let recorded = file.Metadata[Safetensors.ChecksumKey name]
            let bytes = Runtime.InteropServices.MemoryMarshal.AsBytes(ReadOnlySpan(t.ToArray()))
            Expect.equal recorded (Crc32c.format (Crc32c.ofBytes bytes)) name

        // only the metadata is new: the tensors are the state_dict's names
        Expect.equal
            (file.Tensors |> List.map fst |> List.sort)
            (named |> Array.map fst |> Array.sort |> List.ofArray)
            "the tensors are the state_dict\'s names")

let ``CRC-32C is the Castagnoli checksum, whatever the pieces`` () =
    // the standard check value of CRC-32C
    let nine = Text.Encoding.ASCII.GetBytes "123456789"
    Expect.equal (Crc32c.ofBytes (ReadOnlySpan nine)) 0xE3069283u "the check value of CRC-32C"
    // pieces of any size give the checksum of the whole
    let bytes = Array.init 1000 (fun i -> byte (i * 37 + 11))
    let whole = Crc32c.ofBytes (ReadOnlySpan bytes)

    for cut in [ 0; 1; 3; 7; 8; 9; 500; 999; 1000 ] do
        let s = Crc32c.append Crc32c.Initial (ReadOnlySpan(bytes, 0, cut))

        Expect.equal
            (Crc32c.finish (Crc32c.append s (ReadOnlySpan(bytes, cut, 1000 - cut))))
            whole
            (sprintf "cut at %d" cut)

    // negative control: one changed byte changes it
    bytes[500] <- bytes[500] ^^^ 1uy
    Expect.notEqual (Crc32c.ofBytes (ReadOnlySpan bytes)) whole "one changed byte"

[<Tests>]
let tests =
    testList
        "CheckpointIntegrity"
        [
            testCase
                "every flipped byte or truncation of a checkpoint's files is a named error or loads the same data"
                ``every flipped byte or truncation of a checkpoint's files is a named error or loads the same data``
            testCase "a byte that carries nothing changes nothing" ``a byte that carries nothing changes nothing``
            testCase
                "a flipped byte in any tensor's data is an error naming the file and the tensor"
                ``a flipped byte in any tensor's data is an error naming the file and the tensor``
            testCase
                "a checksum mismatch names the file, the tensor and both checksums"
                ``a checksum mismatch names the file, the tensor and both checksums``
            testCase
                "negative control: with verification switched off a flipped data byte loads other data"
                ``negative control: with verification switched off a flipped data byte loads other data``
            testCase
                "the model file still reads as a plain safetensors file, its checksums in the metadata"
                ``the model file still reads as a plain safetensors file, its checksums in the metadata``
            testCase
                "CRC-32C is the Castagnoli checksum, whatever the pieces"
                ``CRC-32C is the Castagnoli checksum, whatever the pieces``
        ]
