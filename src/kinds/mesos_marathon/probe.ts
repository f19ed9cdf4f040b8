// The one program the Mesos proof runs on the controller: a fixed Python script (every Mesos node
// has python3, Ansible needs it), given the target as arguments, never as text in the script. It
// asks ZooKeeper `ruok` (four-letter word) or GETs an HTTP path, and prints what it was answered;
// exit 0 when it was answered at all, 3 when it could not reach the target.

export const PROBE_SCRIPT = [
  'import socket, sys, urllib.request',
  'mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])',
  'try:',
  '    if mode == "ruok":',
  '        with socket.create_connection((host, port), timeout=10) as s:',
  '            s.sendall(b"ruok")',
  '            print(s.recv(64).decode("ascii", "replace"))',
  '    else:',
  '        url = "http://%s:%d%s" % (host if ":" not in host else "[" + host + "]", port, sys.argv[4])',
  '        with urllib.request.urlopen(url, timeout=10) as r:',
  '            sys.stdout.write(r.read(4 * 1024 * 1024).decode("utf-8", "replace"))',
  'except Exception as e:',
  '    print("%s: %s" % (type(e).__name__, e), file=sys.stderr)',
  '    sys.exit(3)',
].join('\n');

/** argv asking ZooKeeper at host:port whether it serves (it answers "imok"). */
export function ruokArgv(host: string, port: number): string[] {
  return ['python3', '-c', PROBE_SCRIPT, 'ruok', host, String(port)];
}

/** argv GETting http://host:port/path. */
export function httpGetArgv(host: string, port: number, path: string): string[] {
  return ['python3', '-c', PROBE_SCRIPT, 'get', host, String(port), path];
}
