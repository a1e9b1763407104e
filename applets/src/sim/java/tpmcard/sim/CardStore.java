package tpmcard.sim;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The simulated card's non-volatile memory: one file, {@code card.store}, in the state directory,
 * and the lock file {@code card.lock} that makes one process at a time its owner.
 *
 * <p>File format (big-endian), version {@value #FORMAT_VERSION}:
 * <pre>
 *   magic      16 bytes  "TPMCARD SIMCARD\n"
 *   version    u16
 *   known      u16 count, then UTF strings: applet AIDs (hex) installed from the manifest so far
 *   classes    u32 count, then (UTF name, i32 field-layout fingerprint or 0)
 *   payload    u32 length, then the kryo image ({@link CardImageCodec})
 *   crc32c     u32 over everything above
 * </pre>
 * Writes go to a temporary file that is fsynced and renamed over the store, then the directory is
 * fsynced: a crash leaves either the old or the new store, never a mix.
 */
final class CardStore implements AutoCloseable {
    static final int FORMAT_VERSION = 2;
    private static final byte[] MAGIC = "TPMCARD SIMCARD\n".getBytes(StandardCharsets.US_ASCII);
    static final String STORE_NAME = "card.store";
    static final String LOCK_NAME = "card.lock";

    /** What a store holds. */
    static final class Contents {
        final String profile;
        final List<String> knownAids;
        final Map<String, Integer> classes;
        final byte[] payload;

        Contents(String profile, List<String> knownAids, Map<String, Integer> classes, byte[] payload) {
            this.profile = profile;
            this.knownAids = knownAids;
            this.classes = classes;
            this.payload = payload;
        }
    }

    private final Path dir;
    private final Path file;
    private final Path temp;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private boolean closed;

    private CardStore(Path dir, FileChannel lockChannel, FileLock lock) {
        this.dir = dir;
        this.file = dir.resolve(STORE_NAME);
        this.temp = dir.resolve(STORE_NAME + ".tmp");
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** Take ownership of the store in {@code dir} (created 0700 if missing) for {@code purpose}. */
    static CardStore open(Path dir, String purpose) {
        try {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                        PosixFilePermissions.fromString("rwx------")));
            }
        } catch (IOException | UnsupportedOperationException e) {
            throw new SimCardException(SimCardException.Kind.IO,
                    "cannot create the card state directory " + dir + ": " + e.getMessage(), e);
        }
        Path lockFile = dir.resolve(LOCK_NAME);
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;  // this very process holds it
            }
            if (lock == null) {
                String owner = describeOwner(channel);
                channel.close();
                throw new SimCardException(SimCardException.Kind.LOCKED,
                        "the simulated card in " + dir + " is in use by " + owner
                        + "; stop that process, or give this one another state directory");
            }
            String info = "pid=" + ProcessHandle.current().pid() + "\npurpose=" + purpose.replace('\n', ' ')
                    + "\nsince=" + Instant.now() + "\n";
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(info.getBytes(StandardCharsets.UTF_8)), 0);
            channel.force(false);
            return new CardStore(dir, channel, lock);
        } catch (IOException e) {
            try {
                if (channel != null) {
                    channel.close();
                }
            } catch (IOException ignored) {
                // already failing
            }
            throw new SimCardException(SimCardException.Kind.IO, "cannot lock " + lockFile + ": " + e.getMessage(), e);
        }
    }

    private static String describeOwner(FileChannel channel) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(4096);
        channel.read(buf, 0);
        String text = new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
        String pid = "?";
        String purpose = "?";
        for (String line : text.split("\n")) {
            if (line.startsWith("pid=")) {
                pid = line.substring(4);
            } else if (line.startsWith("purpose=")) {
                purpose = line.substring(8);
            }
        }
        String self = Long.toString(ProcessHandle.current().pid());
        return "process " + pid + (pid.equals(self) ? " (this process)" : "") + " (" + purpose + ")";
    }

    Path file() {
        return file;
    }

    boolean exists() {
        return Files.isRegularFile(file);
    }

    /** Delete the store file; whether there was one. */
    boolean delete() {
        try {
            Files.deleteIfExists(temp);
            boolean existed = Files.deleteIfExists(file);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
            return existed;
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot delete " + file + ": " + e.getMessage(), e);
        }
    }

    /** Read and verify the store; {@code null} if there is none. */
    Contents read() {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot read " + file + ": " + e.getMessage(), e);
        }
        String fix = "; delete " + file + " or run a factory reset (`tpmcard sim reset`) to start a fresh card";
        if (bytes.length < MAGIC.length + 6 || !java.util.Arrays.equals(bytes, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            throw new SimCardException(SimCardException.Kind.CORRUPT, file + " is not a tpmcard card store" + fix);
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            in.skipNBytes(MAGIC.length);
            int version = in.readUnsignedShort();
            if (version != FORMAT_VERSION && version != 1) {
                throw new SimCardException(SimCardException.Kind.INCOMPATIBLE, file + " has store format "
                        + version + ", this build reads formats 1 and " + FORMAT_VERSION + fix);
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            int stored = ByteBuffer.wrap(bytes, bytes.length - 4, 4).getInt();
            if (stored != (int) crc.getValue()) {
                throw new SimCardException(SimCardException.Kind.CORRUPT, file + " is damaged (checksum mismatch)" + fix);
            }
            String profile = version == 1 ? "full" : in.readUTF();
            int n = in.readUnsignedShort();
            List<String> known = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                known.add(in.readUTF());
            }
            int c = in.readInt();
            Map<String, Integer> classes = new LinkedHashMap<>();
            for (int i = 0; i < c; i++) {
                classes.put(in.readUTF(), in.readInt());
            }
            int len = in.readInt();
            if (len < 0 || len > bytes.length) {
                throw new SimCardException(SimCardException.Kind.CORRUPT, file + " is damaged (bad length)" + fix);
            }
            byte[] payload = in.readNBytes(len);
            if (payload.length != len) {
                throw new EOFException();
            }
            return new Contents(profile, known, classes, payload);
        } catch (EOFException e) {
            throw new SimCardException(SimCardException.Kind.CORRUPT, file + " is truncated" + fix, e);
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Atomically replace the store. */
    void write(String profile, List<String> knownAids, Map<String, Integer> classes, byte[] payload, int payloadLength) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(payloadLength + 4096);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.write(MAGIC);
            out.writeShort(FORMAT_VERSION);
            out.writeUTF(profile);
            out.writeShort(knownAids.size());
            for (String aid : knownAids) {
                out.writeUTF(aid);
            }
            out.writeInt(classes.size());
            for (Map.Entry<String, Integer> e : classes.entrySet()) {
                out.writeUTF(e.getKey());
                out.writeInt(e.getValue());
            }
            out.writeInt(payloadLength);
            out.write(payload, 0, payloadLength);
            out.flush();
            CRC32C crc = new CRC32C();
            crc.update(bytes.toByteArray());
            out.writeInt((int) crc.getValue());
        } catch (IOException e) {
            throw new IllegalStateException(e);  // in-memory stream
        }
        try {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes.toByteArray());
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + dir + " cannot rename atomically", e);
            }
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);  // make the rename itself durable
            }
        } catch (IOException e) {
            throw new SimCardException(SimCardException.Kind.IO, "cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Release the lock. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            lockChannel.truncate(0);
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            // the lock dies with the channel or the process anyway
        }
    }
}
