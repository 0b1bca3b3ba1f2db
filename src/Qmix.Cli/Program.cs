// qmix: train, evaluate, verify, plot and benchmark cooperative multi-agent agents (QMIX and its family).
// `qmix --help` lists the commands; Cli.Run is the entry point (tests call it in-process).
return Qmix.Cli.Cli.Run(args, Console.Out, Console.Error);
