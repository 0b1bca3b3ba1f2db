using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Qmix.Cli;

/// <summary><c>qmix envs</c>: the catalogue of built-in environments with their sizes.</summary>
internal static class EnvsCommand
{
    public static Command Create(Io io)
    {
        var command = new Command("envs", "List the built-in environments with their sizes (pass a name to 'train --env')");
        command.SetAction(_ =>
        {
            var table = new Table().Border(TableBorder.Simple)
                .AddColumn("name").AddColumn(new TableColumn("agents").RightAligned()).AddColumn(new TableColumn("actions").RightAligned())
                .AddColumn(new TableColumn("obs").RightAligned()).AddColumn(new TableColumn("state").RightAligned())
                .AddColumn(new TableColumn("limit").RightAligned()).AddColumn("description");
            string N(int v) => v.ToString(CultureInfo.InvariantCulture);
            foreach (var e in Environments.Catalogue)
                table.AddRow(Markup.Escape(e.Name), N(e.Spec.Agents), N(e.Spec.Actions), N(e.Spec.ObservationSize),
                    N(e.Spec.StateSize), N(e.Spec.EpisodeLimit), Markup.Escape(e.Description));
            io.Write(table);
            io.Out.WriteLine($"{Environments.Catalogue.Count} environments; obs = one agent's observation width, limit = the longest episode");
            return Cli.Ok;
        });
        return command;
    }
}
