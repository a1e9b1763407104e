package tpmcard.sim;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.nio.file.Paths;
import java.util.Locale;
import jdk.net.ExtendedSocketOptions;
import sun.misc.Signal;

/**
 * The simulated card behind vsmartcard's virtual reader: a card-side client of vpcd, serving a
 * {@link SimCard} with the same persistent store as the in-process transport.
 *
 * <pre>
 *   java -cp CLASSPATH tpmcard.sim.VpcdCard --state-dir DIR --manifest applets/manifest.json
 *        [--host 127.0.0.1] [--port 35963] [--purpose TEXT]
 * </pre>
 *
 * <p>vpcd protocol (vsmartcard, vpcd.h): each message is a 2-byte big-endian length and a payload.
 * A 1-byte payload is a control code (0 power off, 1 power on, 2 reset, 4 get ATR; only the ATR
 * is answered); a longer one is a command APDU, answered with the response APDU.
 *
 * <p>Unlike jCardSim's stock com.licel.jcardsim.remote.VSmartCard this client keeps the card's
 * state in a store, connects only to a loopback address, opens no listening port, and sets
 * TCP_QUICKACK after every read: without it every APDU waits ~40 ms for a delayed ACK (Nagle on
 * the vpcd side meets delayed ACK on ours).
 *
 * <p>Prints one line "ready ..." on stdout once connected to vpcd; reconnects when vpcd goes
 * away (pcscd restarts); on SIGTERM or SIGINT closes the card (its store is saved) and exits 0.
 * Errors: one line "error: ..." on stderr, exit status 2.
 *
 * <p>Test hook: {@code TPMCARD_SIM_FAULT=drop-after:N} removes the card in the middle of the
 * N-th command APDU (received, not executed, never answered: the connection is dropped), once;
 * the card comes back a moment later.
 */
public final class VpcdCard {
    public static final int DEFAULT_PORT = 35963;
    static final int CTRL_OFF = 0;
    static final int CTRL_ON = 1;
    static final int CTRL_RESET = 2;
    static final int CTRL_ATR = 4;

    private final SimCard card;
    private final InetSocketAddress vpcd;
    private final int dropAtApdu;
    private volatile boolean stopping;
    private volatile Socket socket;
    private long apdus;
    private boolean dropped;

    VpcdCard(SimCard card, InetSocketAddress vpcd, int dropAtApdu) {
        this.card = card;
        this.vpcd = vpcd;
        this.dropAtApdu = dropAtApdu;
    }

    public static void main(String[] args) {
        String stateDir = null;
        String manifest = null;
        String host = "127.0.0.1";
        int port = DEFAULT_PORT;
        String purpose = null;
        String profile = null;
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                String v = i + 1 < args.length ? args[i + 1] : null;
                switch (a) {
                    case "--state-dir": stateDir = v; i++; break;
                    case "--manifest": manifest = v; i++; break;
                    case "--host": host = v; i++; break;
                    case "--port": port = Integer.parseInt(v); i++; break;
                    case "--purpose": purpose = v; i++; break;
                    case "--profile": profile = v; i++; break;
                    default: throw new IllegalArgumentException("unknown argument " + a);
                }
            }
            if (stateDir == null || manifest == null) {
                throw new IllegalArgumentException("--state-dir and --manifest are required");
            }
            if (port <= 0 || port > 65535) {
                throw new IllegalArgumentException("--port must be 1..65535");
            }
        } catch (RuntimeException e) {
            fail("bad arguments: " + e.getMessage() + "\nusage: VpcdCard --state-dir DIR --manifest FILE"
                    + " [--host 127.0.0.1] [--port " + DEFAULT_PORT + "] [--purpose TEXT] [--profile NAME]");
            return;
        }
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            fail("unknown host " + host);
            return;
        }
        if (!address.isLoopbackAddress()) {
            // vpcd carries unauthenticated APDUs: never let the card talk to another machine.
            fail(host + " is not a loopback address; the simulated card only connects to vpcd on this machine");
            return;
        }
        int drop;
        try {
            drop = parseFault(System.getenv("TPMCARD_SIM_FAULT"));
        } catch (IllegalArgumentException e) {
            fail(e.getMessage());
            return;
        }
        SimCard card;
        try {
            card = SimCard.open(stateDir, manifest, purpose != null ? purpose
                    : "tpmcard.sim.VpcdCard for vpcd " + host + ":" + port, null, profile);
            String mode = System.getenv("TPMCARD_SIM_SAVE_MODE");
            if (mode != null && !mode.isEmpty()) {
                card.setSaveMode(mode);
            }
        } catch (SimCardException | IllegalArgumentException e) {
            fail(e.getMessage());
            return;
        }
        VpcdCard server = new VpcdCard(card, new InetSocketAddress(address, port), drop);
        Signal.handle(new Signal("TERM"), s -> server.stop());
        Signal.handle(new Signal("INT"), s -> server.stop());
        int status = server.run();
        System.out.flush();
        System.exit(status);
    }

    static int parseFault(String spec) {
        if (spec == null || spec.isEmpty()) {
            return 0;
        }
        if (spec.startsWith("drop-after:")) {
            try {
                int n = Integer.parseInt(spec.substring("drop-after:".length()));
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // below
            }
        }
        throw new IllegalArgumentException("TPMCARD_SIM_FAULT must be drop-after:N with N >= 1, not " + spec);
    }

    private static void fail(String message) {
        System.err.println("error: " + message);
        System.err.flush();
        System.exit(2);
    }

    void stop() {
        stopping = true;
        Socket s = socket;
        if (s != null) {
            try {
                s.close();  // unblocks the read in run()
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /** Serve until stopped. Returns the exit status. */
    int run() {
        boolean announced = false;
        long backoff = 50;
        PrintStream out = System.out;
        try {
            while (!stopping) {
                Socket s = new Socket();
                try {
                    s.connect(vpcd, 2000);
                } catch (ConnectException e) {
                    s.close();
                    sleep(backoff);  // vpcd (pcscd) not up yet, or restarting
                    backoff = Math.min(backoff * 2, 1000);
                    continue;
                }
                backoff = 50;
                socket = s;
                if (stopping) {
                    s.close();
                    break;
                }
                s.setTcpNoDelay(true);
                if (!announced) {
                    out.println("ready vpcd=" + vpcd.getAddress().getHostAddress() + ":" + vpcd.getPort()
                            + " state=" + card.stateDir() + " pid=" + ProcessHandle.current().pid()
                            + " profile=" + card.profile());
                    out.flush();
                    announced = true;
                }
                try {
                    serve(s);
                } catch (EOFException | SocketException e) {
                    // vpcd closed the connection (pcscd stopped), or stop() closed it
                } finally {
                    s.close();
                    socket = null;
                }
                if (!stopping) {
                    sleep(dropped ? 500 : 100);
                }
            }
            return 0;
        } catch (SimCardException e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        } catch (IOException e) {
            System.err.println("error: connection to vpcd at " + vpcd + " failed: " + e.getMessage());
            return 2;
        } finally {
            try {
                card.close();
            } catch (RuntimeException e) {
                System.err.println("error: saving the card failed: " + e.getMessage());
            }
        }
    }

    private void serve(Socket s) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 70000));
        OutputStream out = s.getOutputStream();
        boolean powered = true;
        while (!stopping) {
            // vpcd sends the 2-byte length and the payload in two writes; Nagle on its side holds
            // the payload until the length is ACKed, and Linux delays ACKs by up to 40 ms. So
            // acknowledge at once after every read: QUICKACK is one-shot, the kernel drops back
            // to delayed ACKs by itself.
            int length = in.readUnsignedShort();
            s.setOption(ExtendedSocketOptions.TCP_QUICKACK, true);
            byte[] message = new byte[length];
            in.readFully(message);
            s.setOption(ExtendedSocketOptions.TCP_QUICKACK, true);
            if (length == 1) {
                switch (message[0]) {
                    case CTRL_OFF:
                        card.reset();
                        powered = false;
                        break;
                    case CTRL_ON:
                        if (powered) {
                            card.reset();
                        }
                        powered = true;
                        break;
                    case CTRL_RESET:
                        card.reset();
                        powered = true;
                        break;
                    case CTRL_ATR:
                        send(out, card.getATR());
                        break;
                    default:
                        break;  // unknown control code: vpcd expects no answer
                }
                continue;
            }
            apdus++;
            if (!dropped && dropAtApdu > 0 && apdus == dropAtApdu) {
                dropped = true;
                s.close();  // the card is pulled out mid-command
                throw new EOFException("fault hook: card removed");
            }
            send(out, card.transmit(message));
        }
    }

    private static void send(OutputStream out, byte[] payload) throws IOException {
        byte[] frame = new byte[payload.length + 2];
        frame[0] = (byte) (payload.length >> 8);
        frame[1] = (byte) payload.length;
        System.arraycopy(payload, 0, frame, 2, payload.length);
        out.write(frame);
        out.flush();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "VpcdCard(%s)", vpcd);
    }
}
