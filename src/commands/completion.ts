import type { Command, Option } from 'commander';
import type { CommandResult } from './result.js';

/** The shells `distctl completion` writes a script for. */
export type Shell = 'bash' | 'zsh' | 'fish';

/** One command as completion sees it: its words so far, options and subcommands. */
interface CommandSpec {
  /** e.g. ['image', 'build']; [] for the program itself. */
  readonly words: readonly string[];
  readonly description: string;
  readonly options: readonly OptionSpec[];
  readonly subcommands: readonly CommandSpec[];
}

interface OptionSpec {
  readonly short: string | null;
  readonly long: string | null;
  readonly description: string;
  /** The option takes a value: a file name unless it has choices. */
  readonly takesValue: boolean;
  readonly choices: readonly string[];
}

/**
 * `distctl completion bash|zsh|fish`: a completion script generated from the
 * command definitions themselves, so a new command or option completes without
 * anyone editing a script. Install: `distctl completion bash > /etc/bash_completion.d/distctl`,
 * `distctl completion zsh > "${fpath[1]}/_distctl"`,
 * `distctl completion fish > ~/.config/fish/completions/distctl.fish`.
 */
export function completionCommand(shell: Shell, program: Command): CommandResult {
  const script = completionScript(shell, program);
  return { exitCode: 0, human: script.trimEnd(), json: { shell, script } };
}

/** The script for one shell. */
export function completionScript(shell: Shell, program: Command): string {
  const root = describe(program, []);
  if (shell === 'bash') return bashScript(program.name(), root);
  if (shell === 'zsh') return zshScript(program.name(), root);
  return fishScript(program.name(), root);
}

function describe(command: Command, words: readonly string[]): CommandSpec {
  const help = command.createHelp();
  const options = help.visibleOptions(command).map(optionSpec);
  return {
    words,
    description: command.description(),
    options,
    subcommands: help
      .visibleCommands(command)
      .filter((sub) => sub.name() !== 'help')
      .map((sub) => describe(sub, [...words, sub.name()])),
  };
}

function optionSpec(option: Option): OptionSpec {
  return {
    short: option.short ?? null,
    long: option.long ?? null,
    description: option.description,
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
  };
}

function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(flatten)];
}

function flags(option: OptionSpec): string[] {
  return [option.short, option.long].filter((flag): flag is string => flag !== null);
}

function bashScript(name: string, root: CommandSpec): string {
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const all = flatten(root);
  // Options that take a value make the next word a value, not a command.
  const valued = [...new Set(all.flatMap((spec) => spec.options.filter((option) => option.takesValue).flatMap(flags)))];
  const cases = all.map((spec) => {
    const words = [...spec.subcommands.map((sub) => sub.words.at(-1) ?? ''), ...spec.options.flatMap(flags)];
    const values = spec.options
      .filter((option) => option.takesValue)
      .map((option) => {
        const candidates = option.choices.length > 0 ? `-W ${quote(option.choices.join(' '))}` : '-f';
        return `      ${flags(option).join('|')}) COMPREPLY=( $(compgen ${candidates} -- "$cur") ); return ;;`;
      });
    return [
      `    ${quote(spec.words.join(' '))})`,
      ...(values.length > 0 ? ['      case "$prev" in', ...values.map((line) => `  ${line}`), '      esac'] : []),
      `      COMPREPLY=( $(compgen -W ${quote(words.join(' '))} -- "$cur") ) ;;`,
    ].join('\n');
  });
  return `# ${name} completion for bash, generated from its command definitions.
# Load it with: source <(${name} completion bash)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" word i
  local -a commands=(${all
    .filter((spec) => spec.words.length > 0)
    .map((spec) => quote(spec.words.join(' ')))
    .join(' ')})
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      ${valued.join('|')}) i=$((i + 1)) ;;
      --) break ;;
      -*) ;;
      *) local candidate="\${path:+$path }$word"
         if [[ " \${commands[*]/%/,} " == *" $candidate,"* ]]; then path="$candidate"; else break; fi ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
}
complete -o default -F ${fn} ${name}
`;
}

function zshScript(name: string, root: CommandSpec): string {
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const functions = flatten(root).map((spec) => {
    const own = `${fn}${spec.words.map((word) => `_${word.replace(/[^A-Za-z0-9]/g, '_')}`).join('')}`;
    const specs = spec.options.map((option) => {
      const names = flags(option);
      const exclusive = names.length > 1 ? `'(${names.join(' ')})'{${names.join(',')}}` : `'${names[0] ?? ''}`;
      const action = option.takesValue
        ? option.choices.length > 0
          ? `:value:(${option.choices.join(' ')})`
          : ':file:_files'
        : '';
      return names.length > 1
        ? `${exclusive}'[${zshEscape(option.description)}]${action}'`
        : `${exclusive}[${zshEscape(option.description)}]${action}'`;
    });
    const lines = [`${own}() {`];
    if (spec.subcommands.length === 0) {
      lines.push(`  _arguments -s ${specs.map((entry) => `\\\n    ${entry}`).join(' ')} \\\n    '*:file:_files'`);
    } else {
      const names = spec.subcommands.map(
        (sub) => `'${sub.words.at(-1) ?? ''}:${zshEscape(sub.description).replace(/:/g, '\\:')}'`,
      );
      lines.push(
        '  local curcontext="$curcontext" state line',
        `  _arguments -C ${specs.map((entry) => `\\\n    ${entry}`).join(' ')} \\`,
        `    '1: :->command' '*:: :->argument'`,
        '  case $state in',
        `    command) local -a subcommands=(${names.join(' ')}); _describe -t commands 'command' subcommands ;;`,
        `    argument) case $words[1] in`,
        ...spec.subcommands.map(
          (sub) =>
            `      ${sub.words.at(-1) ?? ''}) ${own}_${(sub.words.at(-1) ?? '').replace(/[^A-Za-z0-9]/g, '_')} ;;`,
        ),
        '    esac ;;',
        '  esac',
      );
    }
    lines.push('}');
    return lines.join('\n');
  });
  return `#compdef ${name}
# ${name} completion for zsh, generated from its command definitions.
# Install: ${name} completion zsh > "\${fpath[1]}/_${name}" (or: source <(${name} completion zsh))
${functions.join('\n\n')}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then ${fn} "$@"; else compdef ${fn} ${name}; fi
`;
}

function fishScript(name: string, root: CommandSpec): string {
  const lines = [
    `# ${name} completion for fish, generated from its command definitions.`,
    `# Install: ${name} completion fish > ~/.config/fish/completions/${name}.fish`,
    `complete -c ${name} -f`,
  ];
  for (const spec of flatten(root)) {
    // The condition under which this command's words apply: its path typed, and none of its subcommands yet.
    const seen = spec.words.map((word) => `__fish_seen_subcommand_from ${word}`);
    const notDeeper =
      spec.subcommands.length > 0
        ? [`not __fish_seen_subcommand_from ${spec.subcommands.map((sub) => sub.words.at(-1) ?? '').join(' ')}`]
        : [];
    const condition = spec.words.length === 0 ? ['__fish_use_subcommand'] : [...seen, ...notDeeper];
    const when = `-n ${fishQuote(condition.join('; and '))}`;
    for (const sub of spec.subcommands)
      lines.push(
        `complete -c ${name} ${when} -a ${fishQuote(sub.words.at(-1) ?? '')} -d ${fishQuote(sub.description)}`,
      );
    for (const option of spec.options) {
      const names = [option.short ? `-s ${option.short.slice(1)}` : '', option.long ? `-l ${option.long.slice(2)}` : '']
        .filter(Boolean)
        .join(' ');
      const value = option.takesValue
        ? option.choices.length > 0
          ? ` -x -a ${fishQuote(option.choices.join(' '))}`
          : ' -r -F'
        : '';
      lines.push(`complete -c ${name} ${when} ${names}${value} -d ${fishQuote(option.description)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A single-quoted word for bash and zsh, where nothing inside is special but the quote. */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A single-quoted word for fish, where backslash and quote are escaped inside. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (char) => `\\${char}`)}'`;
}

function zshEscape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, `'\\''`).replace(/\[/g, '\\[').replace(/\]/g, '\\]');
}
