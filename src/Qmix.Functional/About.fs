namespace Qmix.Functional

/// <summary>What the library offers, as plain text: used by the command line and the documentation.</summary>
[<RequireQualifiedAccess>]
module About =
    /// <summary>The library's name.</summary>
    let name = "Qmix.Functional"

    /// <summary>The version of the library assembly.</summary>
    let version =
        let v = typeof<Qmix.Tensors.Tensor>.Assembly.GetName().Version
        sprintf "%d.%d.%d" v.Major v.Minor v.Build

    /// <summary>One line per capability that is available in this build.</summary>
    let capabilities: string list =
        [ "Tensors: float32, row-major, immutable values (Qmix.Tensors.Tensor)"
          "Arenas: pooled tensor storage, reused across gradient computations (Qmix.Tensors.Arena)" ]
