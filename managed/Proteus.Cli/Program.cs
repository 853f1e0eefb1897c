return Proteus.Cli.Cli.Run(args);
