/*
 * Calls that reach the meta-scheduler in more than one read, from Apache's Java client (stubs from
 * `thrift --gen java`, Debian's libthrift, binary protocol, multiplexed names): a small getJob call
 * written in two parts at every byte boundary (one connection per split point, a pause between the
 * parts so the server reads them apart), then a submitJob of just over 1 MiB and a next call on the
 * same connection.
 *
 * usage: java TransportScenario HOST PORT buffered|framed
 * env:   TOKEN (JWT for GATEWAY), GATEWAY, EXEC_BYTES, ARG_LENGTH (the service's job command limits)
 * Exits 1 with "FAILED: ..." on the first failed check; prints "java transport (T): N checks passed".
 */
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.airavata.metascheduler.JobService;
import org.apache.airavata.metascheduler.JobSpec;
import org.apache.airavata.metascheduler.metaschedulerConstants;
import org.apache.airavata.metascheduler.base.ApplicationParallelismType;
import org.apache.airavata.metascheduler.base.AuthzToken;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TMultiplexedProtocol;
import org.apache.thrift.transport.TMemoryBuffer;
import org.apache.thrift.transport.TSocket;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.TTransportException;
import org.apache.thrift.transport.layered.TFramedTransport;

public final class TransportScenario {
  private static int checks;
  private static String host;
  private static int port;
  private static boolean framed;

  private static void check(boolean condition, String what) {
    if (!condition) {
      System.err.println("FAILED: " + what);
      System.exit(1);
    }
    checks++;
  }

  /** Sends the first `split` bytes of the next call at once and holds the rest for sendRest(). */
  private static final class SplitSocket extends TSocket {
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private int split;
    private byte[] rest = new byte[0];

    SplitSocket(int split) throws TTransportException {
      super(host, port, 30_000);
      this.split = split;
    }

    @Override
    public void write(byte[] buf, int off, int len) {
      pending.write(buf, off, len);
    }

    @Override
    public void flush() throws TTransportException {
      byte[] data = pending.toByteArray();
      pending.reset();
      if (split <= 0) {
        super.write(data, 0, data.length);
      } else {
        super.write(data, 0, split);
        rest = Arrays.copyOfRange(data, split, data.length);
        split = 0;
      }
      super.flush();
    }

    void sendRest() throws TTransportException {
      super.write(rest, 0, rest.length);
      super.flush();
    }
  }

  private static final class Connection {
    final SplitSocket socket;
    final TTransport transport;
    final JobService.Client jobs;

    Connection(int split) throws Exception {
      socket = new SplitSocket(split);
      transport = framed ? new TFramedTransport(socket) : socket;
      transport.open();
      jobs = new JobService.Client(new TMultiplexedProtocol(new TBinaryProtocol(transport), "JobService"));
    }
  }

  private interface Send {
    void to(JobService.Client client) throws Exception;
  }

  /** Bytes one call takes on the wire, framing included. */
  private static int wireLength(Send send) throws Exception {
    TMemoryBuffer memory = new TMemoryBuffer(1024);
    send.to(new JobService.Client(new TMultiplexedProtocol(new TBinaryProtocol(memory), "JobService")));
    return memory.length() + (framed ? 4 : 0);
  }

  /** As long a command as a job may have, in arguments as long as they may be. */
  private static List<String> longestCommand() {
    List<String> command = new ArrayList<>(List.of("/bin/echo"));
    int left = Integer.parseInt(System.getenv("EXEC_BYTES")) - command.get(0).length() - 1;
    int argLength = Integer.parseInt(System.getenv("ARG_LENGTH"));
    while (left > 0) {
      int length = Math.min(argLength, left - 1);
      StringBuilder arg = new StringBuilder("arg-" + command.size() + "-");
      while (arg.length() < length) arg.append('x');
      command.add(arg.toString());
      left -= length + 1;
    }
    return command;
  }

  public static void main(String[] args) throws Exception {
    host = args[0];
    port = Integer.parseInt(args[1]);
    framed = args[2].equals("framed");
    Map<String, String> claims = new HashMap<>();
    claims.put("gatewayID", System.getenv("GATEWAY"));
    claims.put("userName", "java");
    AuthzToken token = new AuthzToken(System.getenv("TOKEN"));
    token.setClaimsMap(claims);

    Connection main = new Connection(0);
    JobSpec small = new JobSpec();
    small.setJobName("java-split");
    small.setParallelism(ApplicationParallelismType.SERIAL);
    small.setCommand(new ArrayList<>(List.of("/bin/echo", "split")));
    String jobId = main.jobs.submitJob(token, small).getJobId();

    // A small call split at every byte boundary.
    int length = wireLength(client -> client.send_getJob(token, jobId));
    List<Connection> split = new ArrayList<>();
    for (int at = 1; at < length; at++) split.add(new Connection(at));
    for (Connection connection : split) connection.jobs.send_getJob(token, jobId);
    Thread.sleep(100);
    for (Connection connection : split) connection.socket.sendRest();
    int answered = 0;
    for (Connection connection : split) if (jobId.equals(connection.jobs.recv_getJob().getJobId())) answered++;
    check(answered == length - 1, "getJob split at each of " + (length - 1) + " byte boundaries is answered (" + answered + " were)");
    Set<String> versions = new HashSet<>();
    for (Connection connection : split) versions.add(connection.jobs.getAPIVersion());
    check(versions.equals(Set.of(metaschedulerConstants.METASCHEDULER_API_VERSION)), "every split connection answers its next call");
    for (Connection connection : split) connection.transport.close();

    // Just over 1 MiB in one call, then the next call on the same connection.
    List<String> command = longestCommand();
    JobSpec large = new JobSpec();
    large.setJobName("java-large");
    large.setParallelism(ApplicationParallelismType.SERIAL);
    large.setCommand(command);
    check(wireLength(client -> client.send_submitJob(token, large)) > 1024 * 1024, "the submitJob call is over 1 MiB");
    String largeId = main.jobs.submitJob(token, large).getJobId();
    String description = main.jobs.getJob(token, largeId).getJobDescription();
    check(description.endsWith("[\"" + String.join("\",\"", command) + "\"]"), "getJob returns the 1 MiB command whole");
    check(metaschedulerConstants.METASCHEDULER_API_VERSION.equals(main.jobs.getAPIVersion()), "the connection answers the next call");
    main.transport.close();

    System.out.println("java transport (" + args[2] + "): " + checks + " checks passed");
    System.exit(0);
  }
}
