namespace Qmix.Tensors

open System
open System.Collections.Concurrent
open System.Collections.Generic
open System.Reflection
open System.Text
open Microsoft.FSharp.Reflection

/// <summary>Gives a record field, union field or union case the name it has in a PyTorch state_dict,
/// when the default (the field name in snake_case, e.g. <c>WeightIh</c> → <c>weight_ih</c>) is not it.</summary>
/// <example><c>{ [&lt;ParamName "hyper_w_1"&gt;] HyperW1: Linear }</c></example>
[<AttributeUsage(AttributeTargets.Property
                 ||| AttributeTargets.Field
                 ||| AttributeTargets.Method
                 ||| AttributeTargets.Class,
                 AllowMultiple = false)>]
type ParamNameAttribute(name: string) =
    inherit Attribute()
    /// <summary>The name used in dotted parameter paths.</summary>
    member _.Name = name

/// <summary>How one type of parameter tree is walked (internal): collect leaves with their names, and
/// rebuild a value of the same type from new leaves in the same order.</summary>
[<AbstractClass>]
type internal Walker() =
    abstract Collect: value: obj * prefix: string * names: List<string> * leaves: List<Tensor> -> unit
    abstract Rebuild: template: obj * leaves: Tensor[] * cursor: int ref -> obj

/// <summary>
/// Parameter trees: any value built from <see cref="T:Qmix.Tensors.Tensor"/> leaves by F# records, unions
/// (options included), tuples, arrays and lists. Leaves are visited in declaration order and named by
/// their path, PyTorch style (<c>agent.fc1.weight</c>, <c>mixer.hyper_w_1.0.weight</c>), so a tree maps
/// one to one onto a state_dict. Other values inside a tree (ints, strings, ...) are kept as they are.
/// </summary>
[<RequireQualifiedAccess>]
module Tree =
    let private walkers = ConcurrentDictionary<Type, Walker>()

    /// PascalCase → snake_case: WeightIh → weight_ih, Fc1 → fc1, V → v.
    let snakeCase (name: string) =
        let sb = StringBuilder()

        for i in 0 .. name.Length - 1 do
            let c = name[i]

            if Char.IsUpper c && i > 0 && not (Char.IsUpper name[i - 1]) && name[i - 1] <> '_' then
                sb.Append '_' |> ignore

            sb.Append(Char.ToLowerInvariant c) |> ignore

        sb.ToString()

    let private memberName (m: MemberInfo) =
        let a = m.GetCustomAttribute<ParamNameAttribute>()

        if obj.ReferenceEquals(a, null) then
            snakeCase m.Name
        else
            a.Name

    let private join (prefix: string) (name: string) =
        if prefix = "" then name
        elif name = "" then prefix
        else prefix + "." + name

    let rec private walkerOf (t: Type) : Walker =
        walkers.GetOrAdd(t, Func<Type, Walker>(build))

    and private build (t: Type) : Walker =
        if t = typeof<Tensor> then
            { new Walker() with
                member _.Collect(v, prefix, names, leaves) =
                    if isNull v then
                        invalidArg "tree" (sprintf "parameter tree: the tensor at '%s' is null" prefix)

                    if not (isNull names) then
                        names.Add prefix

                    leaves.Add(v :?> Tensor)

                member _.Rebuild(_, leaves, cursor) =
                    let x = leaves[cursor.Value]
                    cursor.Value <- cursor.Value + 1
                    box x
            }
        elif t.IsArray && t.GetArrayRank() = 1 then
            let et = t.GetElementType()
            let inner = lazy (walkerOf et)

            { new Walker() with
                member _.Collect(v, prefix, names, leaves) =
                    let a = v :?> Array

                    for i in 0 .. a.Length - 1 do
                        inner.Value.Collect(
                            a.GetValue i,
                            (if isNull names then "" else join prefix (string i)),
                            names,
                            leaves
                        )

                member _.Rebuild(v, leaves, cursor) =
                    let a = v :?> Array
                    let r = Array.CreateInstance(et, a.Length)

                    for i in 0 .. a.Length - 1 do
                        r.SetValue(inner.Value.Rebuild(a.GetValue i, leaves, cursor), i)

                    box r
            }
        elif t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<_>> then
            let et = t.GetGenericArguments()[0]
            let arrayWalker = lazy (walkerOf (et.MakeArrayType()))

            let ofArray =
                typedefof<list<_>>
                    .Assembly.GetType("Microsoft.FSharp.Collections.ListModule")
                    .GetMethod("OfArray")
                    .MakeGenericMethod(et)

            let toArr =
                typedefof<list<_>>
                    .Assembly.GetType("Microsoft.FSharp.Collections.ListModule")
                    .GetMethod("ToArray")
                    .MakeGenericMethod(et)

            { new Walker() with
                member _.Collect(v, prefix, names, leaves) =
                    arrayWalker.Value.Collect(toArr.Invoke(null, [| v |]), prefix, names, leaves)

                member _.Rebuild(v, leaves, cursor) =
                    let arr = arrayWalker.Value.Rebuild(toArr.Invoke(null, [| v |]), leaves, cursor)
                    ofArray.Invoke(null, [| arr |])
            }
        elif FSharpType.IsRecord(t, true) then
            let fields = FSharpType.GetRecordFields(t, true)
            let names = fields |> Array.map (fun f -> memberName f)
            let inner = fields |> Array.map (fun f -> lazy (walkerOf f.PropertyType))
            let read = FSharpValue.PreComputeRecordReader(t, true)
            let make = FSharpValue.PreComputeRecordConstructor(t, true)

            { new Walker() with
                member _.Collect(v, prefix, ns, leaves) =
                    let values = read v

                    for i in 0 .. fields.Length - 1 do
                        inner[i].Value.Collect(values[i], (if isNull ns then "" else join prefix names[i]), ns, leaves)

                member _.Rebuild(v, leaves, cursor) =
                    let values = read v
                    make (Array.init fields.Length (fun i -> inner[i].Value.Rebuild(values[i], leaves, cursor)))
            }
        elif FSharpType.IsTuple t then
            let elems = FSharpType.GetTupleElements t
            let inner = elems |> Array.map (fun e -> lazy (walkerOf e))
            let read = FSharpValue.PreComputeTupleReader t
            let make = FSharpValue.PreComputeTupleConstructor t

            { new Walker() with
                member _.Collect(v, prefix, ns, leaves) =
                    let values = read v

                    for i in 0 .. elems.Length - 1 do
                        inner[i]
                            .Value.Collect(values[i], (if isNull ns then "" else join prefix (string i)), ns, leaves)

                member _.Rebuild(v, leaves, cursor) =
                    let values = read v
                    make (Array.init elems.Length (fun i -> inner[i].Value.Rebuild(values[i], leaves, cursor)))
            }
        elif FSharpType.IsUnion(t, true) then
            let cases = FSharpType.GetUnionCases(t, true)
            let tag = FSharpValue.PreComputeUnionTagReader(t, true)

            let perCase =
                cases
                |> Array.map (fun c ->
                    let fields = c.GetFields()
                    // A case with one field is transparent; with several, each is named after its field.
                    let names =
                        if fields.Length = 1 then
                            [| "" |]
                        else
                            fields |> Array.map (fun f -> memberName f)

                    let inner = fields |> Array.map (fun f -> lazy (walkerOf f.PropertyType))
                    let read = FSharpValue.PreComputeUnionReader(c, true)
                    let make = FSharpValue.PreComputeUnionConstructor(c, true)
                    names, inner, read, make)

            { new Walker() with
                member _.Collect(v, prefix, ns, leaves) =
                    if not (isNull v) then
                        let names, inner, read, _ = perCase[tag v]
                        let values = read v

                        for i in 0 .. values.Length - 1 do
                            inner[i]
                                .Value.Collect(values[i], (if isNull ns then "" else join prefix names[i]), ns, leaves)

                member _.Rebuild(v, leaves, cursor) =
                    if isNull v then
                        v
                    else
                        let _, inner, read, make = perCase[tag v]
                        let values = read v
                        make (Array.init values.Length (fun i -> inner[i].Value.Rebuild(values[i], leaves, cursor)))
            }
        else
            // Anything else is not part of the tree: kept as it is.
            { new Walker() with
                member _.Collect(_, _, _, _) = ()
                member _.Rebuild(v, _, _) = v
            }

    let private collect (tree: 'P) =
        let names = List<string>()
        let leaves = List<Tensor>()
        (walkerOf typeof<'P>).Collect(box tree, "", names, leaves)
        names.ToArray(), leaves.ToArray()

    /// The leaves alone: no names are built.
    let private collectLeaves (tree: 'P) =
        let leaves = List<Tensor>()
        (walkerOf typeof<'P>).Collect(box tree, "", null, leaves)
        leaves.ToArray()

    /// <summary>The leaves of a tree, in declaration order.</summary>
    let leaves (tree: 'P) : Tensor[] = collectLeaves tree

    /// <summary>The dotted names of the leaves, in the order of <see cref="M:Qmix.Tensors.Tree.leaves"/>.</summary>
    let names (tree: 'P) : string[] = fst (collect tree)

    /// <summary>The leaves with their dotted names: the tree as a state_dict.</summary>
    let named (tree: 'P) : (string * Tensor)[] =
        let n, l = collect tree
        Array.zip n l

    /// <summary>A tree shaped like <paramref name="template"/> with new leaves, in leaf order.</summary>
    /// <exception cref="System.ArgumentException">The number of leaves or a leaf's shape differs.</exception>
    let rebuild (template: 'P) (newLeaves: Tensor[]) : 'P =
        let old = collectLeaves template

        if newLeaves.Length <> old.Length then
            invalidArg
                (nameof newLeaves)
                (sprintf "Tree.rebuild: the tree has %d leaves, got %d" old.Length newLeaves.Length)

        for i in 0 .. old.Length - 1 do
            if newLeaves[i].Shape <> old[i].Shape then
                invalidArg
                    (nameof newLeaves)
                    (sprintf
                        "Tree.rebuild: '%s' has shape %O, the new leaf has shape %O"
                        (fst (collect template)).[i]
                        old[i].Shape
                        newLeaves[i].Shape)

        let cursor = ref 0
        (walkerOf typeof<'P>).Rebuild(box template, newLeaves, cursor) :?> 'P

    /// <summary>Applies a function to every leaf.</summary>
    let map (f: Tensor -> Tensor) (tree: 'P) : 'P =
        rebuild tree (Array.map f (leaves tree))

    /// <summary>Combines the leaves of two trees of the same structure.</summary>
    let map2 (f: Tensor -> Tensor -> Tensor) (a: 'P) (b: 'P) : 'P =
        let la, lb = leaves a, leaves b

        if la.Length <> lb.Length then
            invalidArg (nameof b) (sprintf "Tree.map2: trees with %d and %d leaves" la.Length lb.Length)

        rebuild a (Array.map2 f la lb)

    /// <summary>The total number of scalar parameters in a tree.</summary>
    let numel (tree: 'P) =
        leaves tree |> Array.sumBy (fun t -> t.Numel)

    /// <summary>Fills a tree shaped like <paramref name="template"/> from named tensors (a state_dict).</summary>
    /// <exception cref="System.ArgumentException">A name is missing or unexpected, or a shape differs: the message
    /// names the tensor and both shapes.</exception>
    let ofNamed (template: 'P) (tensors: (string * Tensor) seq) : 'P =
        let names, old = collect template
        let given = Dictionary<string, Tensor>()

        for n, t in tensors do
            given[n] <- t

        let expected = HashSet<string>(names)

        let unexpected =
            given.Keys
            |> Seq.filter (fun n -> not (expected.Contains n))
            |> Seq.sort
            |> Seq.toList

        if not unexpected.IsEmpty then
            invalidArg (nameof tensors) (sprintf "unexpected parameter(s): %s" (String.Join(", ", unexpected)))

        let leaves =
            Array.init names.Length (fun i ->
                match given.TryGetValue names[i] with
                | true, t when t.Shape = old[i].Shape -> t
                | true, t ->
                    invalidArg
                        (nameof tensors)
                        (sprintf "parameter '%s': expected shape %O, got %O" names[i] old[i].Shape t.Shape)
                | _ -> invalidArg (nameof tensors) (sprintf "missing parameter '%s' of shape %O" names[i] old[i].Shape))

        rebuild template leaves
