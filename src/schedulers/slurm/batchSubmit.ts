// Submitting many jobs of one account from one process. Each runuser costs a process and a PAM
// session (most of a single dispatch), so a batch is handed to one fixed bash program running as
// the account: it reads the jobs from stdin, makes every directory with one mkdir, then writes each
// script and runs its sbatch, one after the other. Per job that is one fork and exec (sbatch's);
// the rest are builtins. Running several sbatch at once is left to the caller (several batches,
// each its own process): measured here, in-program concurrency cost more forks than it saved.
// Pure here: the program text, the framing of its input and the reading of its output.

/**
 * The program, run as `bash -c PROGRAM ms-submit-many`. Its input is, per job, NUL-terminated
 * fields: our job id, the working directory, the script path, the number of sbatch arguments,
 * those arguments, the script. Every value is data: read with `read -r -d ''` into a variable and
 * only ever expanded quoted, never parsed as shell text (NUL cannot occur in any of them: argv and
 * our scripts cannot hold one). The input is copied to a private temporary file first: bash reads a
 * pipe one byte per system call, a file in blocks. It prints one line per job, "<job id> TAB
 * <status> TAB <message on one line>": status 0 with sbatch's output, 90 (directory), 91 (script)
 * or sbatch's own exit status with what it printed. Input that ends inside a record exits 92
 * before any job was submitted; no temporary file, 93.
 */
export const SUBMIT_MANY_AS_ACCOUNT = `
tmp=$(mktemp -d) || exit 93
trap 'rm -rf -- "$tmp"' EXIT
cat > "$tmp/in" || exit 93
n=0 ids=() dirs=() files=() scripts=() from=() count=() args=()
while IFS= read -r -d '' id; do
  IFS= read -r -d '' dir && IFS= read -r -d '' file && IFS= read -r -d '' c || exit 92
  case $c in ''|*[!0-9]*) exit 92 ;; esac
  ids[n]=$id dirs[n]=$dir files[n]=$file from[n]=\${#args[@]} count[n]=$c
  for ((i = 0; i < c; i++)); do IFS= read -r -d '' a || exit 92; args+=("$a"); done
  IFS= read -r -d '' script || exit 92
  scripts[n]=$script
  n=$((n + 1))
done < "$tmp/in"
((n > 0)) || exit 0
mkdir -p -- "\${dirs[@]}" 2>/dev/null
line() {
  local m=$3
  while [[ $m == *$'\\n' ]]; do m=\${m%$'\\n'}; done
  m=\${m//$'\\n'/ }
  printf '%s\\t%s\\t%s\\n' "$1" "$2" "\${m:0:800}"
}
for ((j = 0; j < n; j++)); do
  if [ ! -d "\${dirs[j]}" ]; then
    line "\${ids[j]}" 90 "$(mkdir -p -- "\${dirs[j]}" 2>&1)"; continue
  fi
  if ! { printf '%s' "\${scripts[j]}" > "\${files[j]}"; } 2>/dev/null; then
    line "\${ids[j]}" 91 "$({ : > "\${files[j]}"; } 2>&1)"; continue
  fi
  sbatch "\${args[@]:\${from[j]}:\${count[j]}}" > "$tmp/out" 2>&1 < /dev/null
  rc=$? out=
  IFS= read -r -d '' out < "$tmp/out"
  line "\${ids[j]}" "$rc" "$out"
done
`;

export const MKDIR_FAILED = 90;
export const WRITE_FAILED = 91;

/** One job as the program reads it. */
export interface SubmitRecord {
  jobId: string;
  workingDir: string;
  scriptPath: string;
  /** sbatch's arguments, ending with the script path. */
  sbatchArgs: readonly string[];
  script: string;
}

/** The program's stdin for these records. Throws for a value holding NUL (it would end its field). */
export function encodeSubmitRecords(records: readonly SubmitRecord[]): string {
  const fields: string[] = [];
  for (const r of records) {
    fields.push(r.jobId, r.workingDir, r.scriptPath, String(r.sbatchArgs.length), ...r.sbatchArgs, r.script);
  }
  for (const field of fields) {
    if (field.includes('\0')) throw new Error('a NUL byte cannot be passed to the submit program');
  }
  return fields.map((field) => `${field}\0`).join('');
}

/** What the program said of one job. */
export interface SubmitLine {
  status: number;
  message: string;
}

/**
 * The program's lines by job id, for the ids asked about only; a line that does not parse, or
 * names a job not in the batch, is ignored (its job then counts as not reported).
 */
export function parseSubmitLines(stdout: string, jobIds: ReadonlySet<string>): Map<string, SubmitLine> {
  const lines = new Map<string, SubmitLine>();
  for (const text of stdout.split('\n')) {
    const first = text.indexOf('\t');
    const second = first < 0 ? -1 : text.indexOf('\t', first + 1);
    if (second < 0) continue;
    const jobId = text.slice(0, first);
    const status = text.slice(first + 1, second);
    if (!jobIds.has(jobId) || !/^\d{1,3}$/.test(status) || lines.has(jobId)) continue;
    lines.set(jobId, { status: Number(status), message: text.slice(second + 1) });
  }
  return lines;
}
