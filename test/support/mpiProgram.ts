// A real MPI program that communicates: a reduction of the ranks, printed by rank 0 with the host
// name of every rank. Built in a directory of its own that every account may read, since jobs run
// as their gateway's account (the service's data dir is closed to it).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export function buildMpiProgram(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-mpi-'));
  chmodSync(dir, 0o755);
  const source = path.join(dir, 'reduce.c');
  writeFileSync(source, [
    '#include <mpi.h>', '#include <stdio.h>', '#include <string.h>',
    'int main(int argc, char **argv) { int rank, size, sum = 0; char name[MPI_MAX_PROCESSOR_NAME]; int len;',
    '  char all[64 * MPI_MAX_PROCESSOR_NAME]; MPI_Init(&argc, &argv);',
    '  MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);',
    '  memset(name, 0, sizeof name); MPI_Get_processor_name(name, &len);',
    '  MPI_Reduce(&rank, &sum, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);',
    '  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);',
    '  if (rank == 0) { printf("ranks=%d sum=%d\\n", size, sum);',
    '    for (int r = 0; r < size && r < 64; r++) printf("rank %d on %s\\n", r, all + r * MPI_MAX_PROCESSOR_NAME); }',
    '  MPI_Finalize(); return 0; }', '',
  ].join('\n'));
  const program = path.join(dir, 'reduce');
  execFileSync('mpicc', ['-o', program, source]);
  return program;
}
