// The one place a command line for the Proxmox node is assembled. Every argument is single-quoted, so a shell
// reading it sees each one as a single literal word: no expansion, no word splitting, no command substitution.

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One argument as a POSIX shell word that reads back as exactly `arg`. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new TypeError('A shell argument cannot contain a NUL byte');
  if (SAFE_WORD.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one command line for `sh -c` (what sshd runs an exec request with). */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
