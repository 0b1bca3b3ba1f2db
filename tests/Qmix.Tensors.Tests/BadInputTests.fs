/// Bad inputs are rejected with an ArgumentException that says what was wrong (naming the shapes
/// involved, formatted like [2, 3]): never an IndexOutOfRangeException or a silently wrong answer.
module Qmix.Tensors.Tests.BadInputTests

open System
open Expecto
open Qmix.Tests
open Qmix.Tensors

let z (dims: int[]) = Tensor.zeros dims

/// Asserts that `f` throws an ArgumentException (or a subclass) whose message contains every fragment.
let throwsNaming (fragments: string list) (f: unit -> 'a) =
    let e = Expect.throwsAnyOf<ArgumentException>(fun () -> f () |> ignore)

    for s in fragments do
        Expect.isTrue (e.Message.Contains s) (sprintf "expected %A in the message: %s" s e.Message)

    e

let binaryOps = [ "add"; "sub"; "mul"; "div" ]

let binary =
    function
    | "add" -> Tensor.add
    | "sub" -> Tensor.sub
    | "mul" -> Tensor.mul
    | _ -> Tensor.div

let ``binary ops that cannot broadcast name both shapes`` (op: string) =
    let f = binary op

    throwsNaming [ op; "[2, 3]"; "[4]" ] (fun () -> f (z [| 2; 3 |]) (z [| 4 |]))
    |> ignore

    throwsNaming [ "[2, 3]"; "[3, 2]" ] (fun () -> f (z [| 2; 3 |]) (z [| 3; 2 |]))
    |> ignore

    throwsNaming [ "[2, 1, 3]"; "[4, 2]" ] (fun () -> f (z [| 2; 1; 3 |]) (z [| 4; 2 |]))
    |> ignore

    throwsNaming [ "[2]"; "[3]" ] (fun () -> f (z [| 2 |]) (z [| 3 |])) |> ignore

let ``binary ops refuse unbroadcastable shapes inside a gradient computation too`` () =
    // the same shapes inside a gradient computation throw the same error
    throwsNaming [ "[2, 3]"; "[4]" ] (fun () ->
        Autodiff.valueAndGrad
            (fun (xs: Tensor[]) -> Tensor.add xs[0] xs[1] |> Tensor.sum)
            [| z [| 2; 3 |]; z [| 4 |] |])
    |> ignore

let ``matmul with misaligned shapes names both`` () =
    throwsNaming [ "matmul"; "[2, 3]"; "[4, 5]" ] (fun () -> Tensor.matmul (z [| 2; 3 |]) (z [| 4; 5 |]))
    |> ignore

    throwsNaming [ "[2, 3, 4]"; "[3, 4, 5]" ] (fun () -> Tensor.matmul (z [| 2; 3; 4 |]) (z [| 3; 4; 5 |]))
    |> ignore

    throwsNaming [ "[2, 2, 3, 4]"; "[2, 4, 5]" ] (fun () -> Tensor.matmul (z [| 2; 2; 3; 4 |]) (z [| 2; 4; 5 |]))
    |> ignore

    throwsNaming [ "[3]"; "[3, 2]" ] (fun () -> Tensor.matmul (z [| 3 |]) (z [| 3; 2 |]))
    |> ignore

    throwsNaming [ "[2, 3]"; "[3]" ] (fun () -> Tensor.matmul (z [| 2; 3 |]) (z [| 3 |]))
    |> ignore

let ``where and maskedFill with mismatched shapes name them`` () =
    throwsNaming [ "where"; "[2, 3]"; "[3, 2]" ] (fun () -> Tensor.where (z [| 2; 3 |]) (z [| 2; 3 |]) (z [| 3; 2 |]))
    |> ignore

    throwsNaming [ "[2, 2]"; "[2, 3]" ] (fun () -> Tensor.where (z [| 2; 2 |]) (z [| 2; 3 |]) (z [| 2; 3 |]))
    |> ignore

    throwsNaming [ "maskedFill"; "[2, 2]"; "[2, 3]" ] (fun () -> Tensor.maskedFill (z [| 2; 2 |]) 1f (z [| 2; 3 |]))
    |> ignore
    // a mask that would broadcast is still refused: these ops take one shape
    throwsNaming [ "[3]"; "[2, 3]" ] (fun () -> Tensor.maskedFill (z [| 3 |]) 1f (z [| 2; 3 |]))
    |> ignore

let ``concat with shapes that differ off the axis names them`` () =
    throwsNaming [ "concat"; "[2, 3]"; "[3, 4]" ] (fun () -> Tensor.concat 0 [ z [| 2; 3 |]; z [| 3; 4 |] ])
    |> ignore

    throwsNaming [ "[2, 3]"; "[2, 3, 1]" ] (fun () -> Tensor.concat 1 [ z [| 2; 3 |]; z [| 2; 3; 1 |] ])
    |> ignore

    throwsNaming [ "concat" ] (fun () -> Tensor.concat 0 []) |> ignore

let ``stack with differing shapes names them`` () =
    throwsNaming [ "stack"; "[2, 3]"; "[3, 2]" ] (fun () -> Tensor.stack 0 [ z [| 2; 3 |]; z [| 3; 2 |] ])
    |> ignore

    throwsNaming [ "stack" ] (fun () -> Tensor.stack 0 []) |> ignore

let ``reshape to a wrong element count names both shapes`` () =
    throwsNaming [ "reshape"; "[2, 3]"; "[4]" ] (fun () -> Tensor.reshape [| 4 |] (z [| 2; 3 |]))
    |> ignore

    throwsNaming [ "[2, 3]"; "[5, 2]" ] (fun () -> Tensor.reshape [| 5; 2 |] (z [| 2; 3 |]))
    |> ignore

    throwsNaming [ "[2, 3]"; "[-1, 4]" ] (fun () -> Tensor.reshape [| -1; 4 |] (z [| 2; 3 |]))
    |> ignore

    throwsNaming [ "reshape"; "[-1, -1]" ] (fun () -> Tensor.reshape [| -1; -1 |] (z [| 2; 3 |]))
    |> ignore

    throwsNaming [ "-2" ] (fun () -> Tensor.reshape [| -2; -3 |] (z [| 2; 3 |]))
    |> ignore

let ``ofArray with a wrong element count names the shape`` () =
    throwsNaming [ "[2, 3]"; "5" ] (fun () -> Tensor.ofArray [| 2; 3 |] (Array.zeroCreate 5))
    |> ignore

let ``slice out of range names the range and the shape`` () =
    let x = z [| 2; 3 |]
    throwsNaming [ "slice"; "[2, 3]" ] (fun () -> Tensor.slice 1 2 2 x) |> ignore
    throwsNaming [ "[2, 3]" ] (fun () -> Tensor.slice 0 -1 1 x) |> ignore
    throwsNaming [ "[2, 3]" ] (fun () -> Tensor.slice 1 0 -1 x) |> ignore
    throwsNaming [ "[2, 3]" ] (fun () -> Tensor.slice 1 4 0 x) |> ignore

let ``gather with a wrong count or an out-of-range index is refused`` () =
    let x = z [| 2; 3 |]

    throwsNaming [ "gather"; "[2, 3]"; "2"; "3" ] (fun () -> Tensor.gather [| 0; 1; 2 |] x)
    |> ignore

    throwsNaming [ "[2, 3]" ] (fun () -> Tensor.gather [| 0 |] x) |> ignore

    throwsNaming [ "gather"; "[2, 3]"; "3" ] (fun () -> Tensor.gather [| 0; 3 |] x)
    |> ignore

    throwsNaming [ "[2, 3]"; "-1" ] (fun () -> Tensor.gather [| -1; 0 |] x)
    |> ignore

    throwsNaming [ "gather" ] (fun () -> Tensor.gather [| 0 |] (Tensor.scalar 1f))
    |> ignore

let ``oneHot with an out-of-range index or a wrong count is refused`` () =
    throwsNaming [ "oneHot"; "3" ] (fun () -> Tensor.oneHot 3 [| 2 |] [| 0; 3 |])
    |> ignore

    throwsNaming [ "oneHot"; "-1" ] (fun () -> Tensor.oneHot 3 [| 2 |] [| -1; 0 |])
    |> ignore

    throwsNaming [ "oneHot"; "[2, 2]" ] (fun () -> Tensor.oneHot 3 [| 2; 2 |] [| 0; 1 |])
    |> ignore

let ``an axis out of range is refused by every axis-wise op`` () =
    let x = z [| 2; 3 |]

    let ops: (string * (int -> obj)) list =
        [
            "sumAxis", (fun a -> box (Tensor.sumAxis a false x))
            "meanAxis", (fun a -> box (Tensor.meanAxis a true x))
            "maxAxis", (fun a -> box (Tensor.maxAxis a false x))
            "argmax", (fun a -> box (Tensor.argmax a x))
            "slice", (fun a -> box (Tensor.slice a 0 1 x))
            "concat", (fun a -> box (Tensor.concat a [ x; x ]))
        ]

    for name, op in ops do
        for a in [ 2; 5; -3 ] do
            throwsNaming [ name; string a ] (fun () -> op a) |> ignore

    // stack adds an axis: [-3, 2] is valid for rank 2
    throwsNaming [ "stack"; "3" ] (fun () -> Tensor.stack 3 [ x; x ]) |> ignore
    throwsNaming [ "stack"; "-4" ] (fun () -> Tensor.stack -4 [ x; x ]) |> ignore

let ``transpose of a vector is refused with its shape`` () =
    throwsNaming [ "transpose"; "[3]" ] (fun () -> Tensor.transpose (z [| 3 |]))
    |> ignore

[<Tests>]
let tests =
    testList
        "BadInput"
        [
            testList
                "binary ops that cannot broadcast name both shapes"
                [
                    for op in binaryOps ->
                        testCase op (fun () -> ``binary ops that cannot broadcast name both shapes`` op)
                ]
            testCase
                "binary ops refuse unbroadcastable shapes inside a gradient computation too"
                ``binary ops refuse unbroadcastable shapes inside a gradient computation too``
            testCase "matmul with misaligned shapes names both" ``matmul with misaligned shapes names both``
            testCase
                "where and maskedFill with mismatched shapes name them"
                ``where and maskedFill with mismatched shapes name them``
            testCase
                "concat with shapes that differ off the axis names them"
                ``concat with shapes that differ off the axis names them``
            testCase "stack with differing shapes names them" ``stack with differing shapes names them``
            testCase
                "reshape to a wrong element count names both shapes"
                ``reshape to a wrong element count names both shapes``
            testCase
                "ofArray with a wrong element count names the shape"
                ``ofArray with a wrong element count names the shape``
            testCase
                "slice out of range names the range and the shape"
                ``slice out of range names the range and the shape``
            testCase
                "gather with a wrong count or an out-of-range index is refused"
                ``gather with a wrong count or an out-of-range index is refused``
            testCase
                "oneHot with an out-of-range index or a wrong count is refused"
                ``oneHot with an out-of-range index or a wrong count is refused``
            testCase
                "an axis out of range is refused by every axis-wise op"
                ``an axis out of range is refused by every axis-wise op``
            testCase
                "transpose of a vector is refused with its shape"
                ``transpose of a vector is refused with its shape``
        ]
