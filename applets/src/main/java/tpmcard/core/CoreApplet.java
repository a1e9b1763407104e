package tpmcard.core;

import javacard.framework.APDU;
import javacard.framework.Applet;
import javacard.framework.ISO7816;
import javacard.framework.ISOException;
import javacard.framework.AID;
import javacard.framework.CardRuntimeException;
import javacard.framework.JCSystem;
import javacard.framework.Shareable;
import javacard.framework.Util;
import javacard.security.AESKey;
import javacard.security.KeyAgreement;
import javacard.security.KeyBuilder;
import javacard.security.MessageDigest;
import javacard.security.RandomData;
import javacardx.apdu.ExtendedLength;
import javacardx.crypto.Cipher;
import tpmcard.algorithms.Registry;
import tpmcard.lib.Identity;
import tpmcard.lib.InstallMemory;
import tpmcard.lib.InstallParameters;
import tpmcard.lib.P256;

/**
 * The suite's core applet: card information (SELECT), the card identity public key (GET DATA
 * 7F49), ECHO (a transport check for extended length, command and response chaining), and the
 * TPM-card binding (PIN, pairing, session handshake, secure messaging; {@link BindingHandler}),
 * and INVOKE, the only route to the suite's services ({@link SuiteService}: the mobile TPM) and
 * to the algorithm registry it hosts ({@link Registry}), inside a secure session only.
 * The command reference is docs/core-applet.md; the binding is docs/binding.md.
 *
 * <p>process() is the only place that catches exceptions: every error status word aborts an open
 * transaction and drops any chain and pending response, so the card answers normally afterwards.
 * A protected command (CLA bit 04) is reassembled, unwrapped, dispatched like an unprotected one,
 * and its response, the handler's status word included, wrapped; any failure of the secure
 * messaging itself ends the session and answers the uniform 6982.
 */
public class CoreApplet extends Applet implements ExtendedLength, HostPcrs {
    /** instructionClass() of an instruction the applet does not know (no class byte has this value). */
    private static final byte INS_UNKNOWN = (byte) 0x01;

    private final ApduIo io;
    private final Identity identity;
    private final BindingHandler binding;
    private final Registry algorithms;
    private final short features;

    /**
     * Install parameters, JavaCard Applet.install / GlobalPlatform INSTALL [for install]:
     * {@code [len AID][AID][len control][control][len params][params]}; params are 0..32 bytes of
     * install-time entropy for the identity key (more: install fails). The PIN and PUK start at
     * their defaults (Constants.DEFAULT_PIN, DEFAULT_PUK); the owner changes them with CHANGE
     * REFERENCE DATA.
     */
    public static void install(byte[] bArray, short bOffset, byte bLength) {
        new CoreApplet(bArray, bOffset, bLength, true);
    }

    /**
     * @param preferRam false only for tests of the persistent-buffer fallback
     */
    protected CoreApplet(byte[] bArray, short bOffset, byte bLength, boolean preferRam) {
        InstallMemory.requireTransient(Constants.TRANSIENT_BYTES);  // a card too small fails here
        InstallParameters.check(bArray, bOffset, bLength, Constants.MAX_INSTALL_ENTROPY);
        short aidOffset = InstallParameters.aidOffset(bArray, bOffset, bLength);
        byte aidLength = InstallParameters.aidLength(bArray, bOffset, bLength);
        short entropyOffset = InstallParameters.paramsOffset(bArray, bOffset, bLength);
        short entropyLength = InstallParameters.paramsLength(bArray, bOffset, bLength);

        // Commands of up to MAX_COMMAND_DATA bytes (a protected 4096-byte payload); unprotected
        // ones are held to MAX_PLAIN_DATA. Common commands run in a small RAM buffer, chains and
        // long commands or answers in a persistent one (ApduIo).
        // The RAM buffer is RAM_IO_LENGTH bytes where the card has room for the suite beside it, else
        // RAM_IO_SMALL_LENGTH (more commands take the persistent buffer then) and the secure
        // channel is compact (SecureChannel: one AES engine and one MAC object fewer).
        boolean compact = JCSystem.getAvailableMemory(JCSystem.MEMORY_TYPE_TRANSIENT_RESET)
                < Constants.RAM_IO_ROOMY;
        io = new ApduIo(Constants.MAX_COMMAND_DATA, Constants.PERSISTENT_IO_LENGTH,
                compact ? Constants.RAM_IO_SMALL_LENGTH : Constants.RAM_IO_LENGTH, preferRam);
        // Made once and kept: the identity is made with them, then the binding and the registry
        // use them.
        P256 curve = new P256();
        MessageDigest sha256 = MessageDigest.getInstance(MessageDigest.ALG_SHA_256, false);
        RandomData random = Identity.keyGenerationRandom();
        KeyAgreement multiplier = Identity.basePointMultiplier();
        KeyAgreement ecdh = KeyAgreement.getInstance(KeyAgreement.ALG_EC_SVDP_DH_PLAIN, false);
        // CLEAR_ON_RESET: the registry's GCM probe sets it during install. Every user clears it
        // after use, and deselect() clears a handshake's key confirmation key waiting in it.
        AESKey aesKey = (AESKey) KeyBuilder.buildKey(KeyBuilder.TYPE_AES_TRANSIENT_RESET,
                KeyBuilder.LENGTH_AES_128, false);
        // The core's one AES engine, initialised before each use: secure messaging (and its IVs,
        // one block with a zero IV), the PIN block, and where the card lacks them the software
        // AES-CMAC and key import's software GCM (a J3H145: 51 bytes of RAM per engine saved).
        Cipher aes = Cipher.getInstance(Cipher.ALG_AES_BLOCK_128_CBC_NOPAD, false);
        // The binding's work area and the registry's unwrap scratch overlay the end of the RAM I/O
        // buffer (BindingTransients); a card without room for that buffer gives them RAM of their
        // own. Both are CLEAR_ON_RESET, the only kind of RAM an applet may touch while it is being
        // installed: the identity's scratch first, so install leaves nothing behind.
        byte[] work = io.ramBuffer();
        if (work == null) {
            work = JCSystem.makeTransientByteArray(BindingTransients.WORK_LENGTH, JCSystem.CLEAR_ON_RESET);
        }
        identity = new Identity(curve, sha256, random, multiplier, bArray, entropyOffset, entropyLength, work);
        binding = new BindingHandler(identity, curve, sha256, random, multiplier, ecdh, aesKey, aes, compact, work,
                io.persistentBuffer(), null, (short) 0, (byte) 0, null, (short) 0, (byte) 0);
        algorithms = new Registry(curve, sha256, ecdh, aesKey, aes, work,
                (short) (work.length - Registry.SCRATCH_LENGTH), work);
        Util.arrayFillNonAtomic(work, (short) 0, (short) work.length, (byte) 0);

        short bits = (short) (Constants.FEATURE_EXTENDED_LENGTH | Constants.FEATURE_COMMAND_CHAINING
                | Constants.FEATURE_RESPONSE_CHAINING);
        if (io.hasRamBuffer()) {
            bits |= (short) (Constants.FEATURE_COMMAND_BUFFER_IN_RAM | Constants.FEATURE_RESPONSE_BUFFER_IN_RAM);
        }
        if (identity.isDerived()) {
            bits |= Constants.FEATURE_IDENTITY_KEY_DERIVED;
        }
        features = bits;

        if (aidLength == 0) {
            register();
        } else {
            register(bArray, aidOffset, aidLength);
        }
        InstallMemory.releaseInstallGarbage();  // the install scratch and key derivation objects
    }

    /** Another applet is selected, or this one again: the session and its keys go now. */
    public void deselect() {
        binding.deselect();
        io.wipeRam();
    }

    public void process(APDU apdu) {
        byte[] header = apdu.getBuffer();
        short sw = ISO7816.SW_NO_ERROR;
        try {
            if (selectingApplet()) {
                binding.deselect();  // a SELECT ends any session, also when this applet was selected
                io.wipeRam();
                io.reset();
                io.receive(apdu, false, Constants.MAX_PLAIN_DATA);
                io.setResponseOffset((short) 0);  // the AID is not needed any more
                sw = io.send(apdu, writeInfo(io.buffer()));
            } else {
                byte cla = header[ISO7816.OFFSET_CLA];
                byte claClass = (byte) (cla & ~(Constants.CLA_CHAINING_BIT | Constants.CLA_SECURE_MESSAGING));
                if (claClass != Constants.CLA_ISO && claClass != Constants.CLA_PROPRIETARY) {
                    ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
                }
                if (io.isChainInProgress() && !io.isChainContinuation(header)) {
                    ISOException.throwIt(Constants.SW_LAST_COMMAND_EXPECTED);
                }
                byte ins = header[ISO7816.OFFSET_INS];
                if (ins == Constants.INS_GET_RESPONSE) {
                    // Plain even during a session: it fetches the rest of a (protected) response.
                    if ((byte) (cla & ~Constants.CLA_CHAINING_BIT) != Constants.CLA_ISO) {
                        ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
                    }
                    requireNoParameters(header[ISO7816.OFFSET_P1], header[ISO7816.OFFSET_P2]);
                    io.receiveNothing(apdu);
                    sw = io.sendRemaining(apdu);
                } else {
                    io.discardResponse();
                    short length = BindingHandler.isSecureMessaging(cla)
                            ? processProtected(apdu, cla, ins) : processPlain(apdu, cla, claClass, ins);
                    if (length >= 0) {
                        sw = io.send(apdu, length);
                    }
                }
            }
        } catch (ISOException e) {
            sw = e.getReason();
        } catch (RuntimeException e) {
            // CryptoException, APDUException, SystemException, array bounds: a fault, not a
            // protocol answer. (CardRuntimeException and its subclasses are RuntimeExceptions.)
            sw = ISO7816.SW_UNKNOWN;
        }
        if (sw != ISO7816.SW_NO_ERROR
                && (short) (sw & (short) 0xFF00) != Constants.SW_BYTES_REMAINING_00) {
            abortTransaction();
            io.reset();
        }
        if (sw != ISO7816.SW_NO_ERROR) {
            ISOException.throwIt(sw);
        }
    }

    private static void abortTransaction() {
        if (JCSystem.getTransactionDepth() != 0) {
            JCSystem.abortTransaction();
        }
    }

    /**
     * An unprotected command: the instruction's class and chaining are checked before any data is
     * read; the complete command ages the binding's one-command state (and ends a session, unless
     * it is SESSION INIT) before it runs. Returns the response length or CHAIN_CONTINUES.
     */
    private short processPlain(APDU apdu, byte cla, byte claClass, byte ins) {
        boolean lastSegment = (cla & Constants.CLA_CHAINING_BIT) == 0;
        if (lastSegment) {
            binding.beginCommand(cla, ins);
        }
        byte expected = instructionClass(ins);
        if (expected == INS_UNKNOWN) {
            ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
        }
        requireClass(claClass, expected);
        if (ins == Constants.INS_INVOKE) {
            // Services only ever see authenticated commands: INVOKE in clear is a secure-messaging
            // failure (uniform 6982, any session ends), refused before any data is taken.
            binding.closeSession();
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        // ISO commands (CLA 00) carry at most a few bytes; only proprietary ones may be chained.
        short length = io.receive(apdu, expected == Constants.CLA_PROPRIETARY, Constants.MAX_PLAIN_DATA,
                BindingHandler.ramReserve(cla, ins, Constants.RAM_ANSWER_RESERVE));
        if (length == ApduIo.CHAIN_CONTINUES) {
            return ApduIo.CHAIN_CONTINUES;
        }
        byte[] header = apdu.getBuffer();
        return dispatch(claClass, ins, header[ISO7816.OFFSET_P1], header[ISO7816.OFFSET_P2], length);
    }

    /**
     * A protected command (docs/binding.md "Secure messaging"): reassembled (any instruction may be
     * chained), unwrapped, dispatched as the unprotected command, its answer wrapped with the
     * handler's status word and sent with 9000. Every failure of the secure messaging itself
     * (length, MAC, padding, no session, a fault while wrapping) ends the session: 6982.
     */
    private short processProtected(APDU apdu, byte cla, byte ins) {
        byte[] header = apdu.getBuffer();
        byte p1 = header[ISO7816.OFFSET_P1];
        byte p2 = header[ISO7816.OFFSET_P2];
        boolean lastSegment = (cla & Constants.CLA_CHAINING_BIT) == 0;
        short length;
        short received;
        try {
            if (lastSegment) {
                binding.beginCommand(cla, ins);
            }
            length = io.receive(apdu, true, Constants.MAX_COMMAND_DATA,
                    BindingHandler.ramReserve(cla, ins, Constants.RAM_ANSWER_RESERVE));
            if (length == ApduIo.CHAIN_CONTINUES) {
                return ApduIo.CHAIN_CONTINUES;
            }
            received = length;
            length = binding.unwrapCommand(cla, ins, p1, p2, io.buffer(), (short) 0, length);
            io.setResponseOffset(length);
        } catch (RuntimeException e) {  // ISOException (6700, 6982) or a fault: uniform answer
            binding.closeSession();
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
            return 0;
        }

        byte claClass = (byte) (cla & ~(Constants.CLA_CHAINING_BIT | Constants.CLA_SECURE_MESSAGING));
        short inner = ISO7816.SW_NO_ERROR;
        short out;
        try {
            byte expected = instructionClass(ins);
            if (expected == INS_UNKNOWN) {
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
            }
            requireClass(claClass, expected);
            out = dispatch(claClass, ins, p1, p2, length);
        } catch (ISOException e) {
            inner = e.getReason();
            out = 0;
        } catch (RuntimeException e) {
            inner = ISO7816.SW_UNKNOWN;
            out = 0;
        }
        if (inner != ISO7816.SW_NO_ERROR) {
            abortTransaction();  // the handler's failure undoes its persistent writes
        }
        try {
            // Secure messaging adds the status word, padding and MAC: at most SM_OVERHEAD + 2.
            short at = io.responseOffset();
            byte[] buffer = io.reserveResponse(at, (short) (out + Constants.SM_OVERHEAD + 2), (short) 0);
            short wrapped = binding.wrapResponse(buffer, at, out, inner);
            // A long command was decrypted in the persistent buffer: no plaintext stays in EEPROM
            // beside the protected answer waiting there.
            io.wipePersistentAround(at, wrapped, received);
            return wrapped;
        } catch (RuntimeException e) {
            binding.closeSession();
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
            return 0;
        }
    }

    /** The class an instruction belongs to (CLA_ISO or CLA_PROPRIETARY), or INS_UNKNOWN. */
    private static byte instructionClass(byte ins) {
        switch (ins) {
            case Constants.INS_GET_DATA:
            case Constants.INS_SELECT:
            case Constants.INS_GET_CHALLENGE:
            case Constants.INS_VERIFY:
                return Constants.CLA_ISO;
            case Constants.INS_ECHO:
            case Constants.INS_CHANGE_REFERENCE_DATA:
            case Constants.INS_RESET_RETRY_COUNTER:
            case Constants.INS_PAIR:
            case Constants.INS_LIST_PAIRINGS:
            case Constants.INS_UNPAIR:
            case Constants.INS_SESSION_INIT:
            case Constants.INS_SESSION_AUTH:
            case Constants.INS_SESSION_CLOSE:
            case Constants.INS_INVOKE:
            case Constants.INS_PUT_DATA:
                return Constants.CLA_PROPRIETARY;
            default:
                return INS_UNKNOWN;
        }
    }

    /**
     * Runs one complete command whose class the caller has checked: data at
     * buffer()[0..length), response at buffer()[responseOffset()..) (after the data unless the
     * handler moves it). Returns the response length.
     */
    private short dispatch(byte claClass, byte ins, byte p1, byte p2, short length) {
        io.setResponseOffset(length);
        if (ins == Constants.INS_LIST_PAIRINGS) {
            io.reserveResponse(length, (short) (Constants.LIST_PAIRINGS_MAX + Constants.SM_OVERHEAD + 2), length);
        }
        byte[] in = io.buffer();
        byte[] out = in;
        short o = length;
        switch (ins) {
            case Constants.INS_ECHO:
                return echo(p1, p2, length);
            case Constants.INS_GET_DATA:
                return getData(p1, p2, length);
            case Constants.INS_SELECT:
                // A SELECT the JCRE did not resolve to an applet (other P1, unknown AID, or an
                // extended SELECT in jCardSim) reaches the selected applet.
                ISOException.throwIt(ISO7816.SW_FILE_NOT_FOUND);
                return 0;
            case Constants.INS_GET_CHALLENGE:
                return binding.getChallenge(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_VERIFY:
                return binding.verifyStatus(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_CHANGE_REFERENCE_DATA:
                return binding.changeReferenceData(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_RESET_RETRY_COUNTER:
                return binding.resetRetryCounter(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_PAIR:
                return binding.pair(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_LIST_PAIRINGS:
                return binding.listPairings(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_UNPAIR:
                return binding.unpair(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_SESSION_INIT:
                return binding.sessionInit(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_SESSION_AUTH:
                return binding.sessionAuth(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_SESSION_CLOSE:
                return binding.sessionClose(in, (short) 0, length, p1, p2, out, o);
            case Constants.INS_INVOKE:
                return invoke(p1, p2, length);
            case Constants.INS_PUT_DATA:
                return binding.putData(in, (short) 0, length, p1, p2, out, o);
            default:
                ISOException.throwIt(ISO7816.SW_INS_NOT_SUPPORTED);
                return 0;
        }
    }

    /** ECHO: the command data back, unchanged, 0..MAX_PLAIN_DATA bytes. */
    private short echo(byte p1, byte p2, short length) {
        requireNoParameters(p1, p2);
        if (length > Constants.MAX_PLAIN_DATA) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        io.setResponseOffset((short) 0);  // the answer is the data, in place
        return length;
    }

    /**
     * INVOKE (protected only): {@code aidLen | AID | ins | p1 | p2 | payload} in the command
     * buffer. The registry's virtual AID goes to {@link Registry#invoke}; any other AID to the
     * applet registered there, through its {@link SuiteService} interface. The service's status
     * word (an ISOException) and response travel back inside secure messaging; process() aborts
     * its open transaction on an error. Nothing is allocated: lookupAID and the Shareable object
     * are the JCRE's and the service's.
     */
    private short invoke(byte p1, byte p2, short length) {
        if (!binding.isSessionOpen()) {
            ISOException.throwIt(Constants.SW_SECURITY_STATUS_NOT_SATISFIED);
        }
        requireNoParameters(p1, p2);
        byte[] in = io.buffer();
        if (length < Constants.INVOKE_HEADER_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        short aidLength = (short) (in[0] & 0xFF);
        if (aidLength < Constants.INVOKE_MIN_AID_LENGTH || aidLength > Constants.INVOKE_MAX_AID_LENGTH) {
            ISOException.throwIt(ISO7816.SW_WRONG_DATA);
        }
        short header = (short) (1 + aidLength);
        short payload = (short) (header + 3);
        if (payload > length) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
        }
        byte ins = in[header];
        byte serviceP1 = in[(short) (header + 1)];
        byte serviceP2 = in[(short) (header + 2)];
        short payloadLength = (short) (length - payload);
        // The firewall contract (SuiteService): the payload goes into the APDU buffer, the only
        // array the service's context may read, and the answer comes back there, after it.
        byte[] buffer = APDU.getCurrentAPDUBuffer();
        short limit = serviceLimit(buffer);
        short outOffset = (short) (SuiteService.DATA_OFFSET + payloadLength);
        if (outOffset > limit) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);  // more than the window (SELECT tag 85)
        }
        short sessionId = binding.sessionId();
        Shareable service = null;
        boolean registry = Registry.isRegistryAid(in, (short) 1, (byte) aidLength);
        if (!registry) {
            AID aid = JCSystem.lookupAID(in, (short) 1, (byte) aidLength);
            service = aid == null ? null
                    : JCSystem.getAppletShareableInterfaceObject(aid, SuiteService.SERVICE_PARAMETER);
            if (!(service instanceof SuiteService)) {
                ISOException.throwIt(ISO7816.SW_FILE_NOT_FOUND);
                return 0;
            }
        }
        Util.arrayCopyNonAtomic(in, payload, buffer, SuiteService.DATA_OFFSET, payloadLength);
        short n;
        try {
            short answer = outOffset;
            if (registry) {
                n = algorithms.invoke(ins, serviceP1, serviceP2, buffer, SuiteService.DATA_OFFSET, payloadLength,
                        outOffset, limit, sessionId);
                answer = SuiteService.DATA_OFFSET;  // the registry's convention (Registry.invoke)
            } else {
                n = ((SuiteService) service).invoke(ins, serviceP1, serviceP2, buffer, SuiteService.DATA_OFFSET,
                        payloadLength, outOffset, limit, this, sessionId);
            }
            if (n < 0 || n > (short) (limit - answer)) {
                ISOException.throwIt(ISO7816.SW_UNKNOWN);  // a service bug: past the window
            }
            // The request is consumed: the answer goes to the start of the I/O buffer (a RAM
            // buffer too small for it and secure messaging gives way to the persistent one).
            io.setResponseOffset((short) 0);
            byte[] out = io.reserveResponse((short) 0, (short) (n + Constants.SM_OVERHEAD + 2), (short) 0);
            Util.arrayCopyNonAtomic(buffer, answer, out, (short) 0, n);
        } catch (CardRuntimeException e) {
            wipe(buffer, limit);
            throw e;
        }
        wipe(buffer, limit);  // unsealed secrets, unwrapped keys: nothing stays in the global buffer
        return n;
    }

    /** The end of the service window in this APDU buffer: its length, at most DATA_OFFSET + the cap. */
    private static short serviceLimit(byte[] buffer) {
        short cap = (short) (SuiteService.DATA_OFFSET + Constants.SERVICE_WINDOW_MAX);
        return buffer.length < cap ? (short) buffer.length : cap;
    }

    private static void wipe(byte[] buffer, short limit) {
        Util.arrayFillNonAtomic(buffer, (short) 0, limit, (byte) 0);
    }

    /**
     * HostPcrs, called by a service during INVOKE (the JCRE switches to this applet's context):
     * copies one verified host PCR of the open session into the APDU buffer.
     */
    public void copyHostPcr(short index, byte[] buffer, short offset) {
        if (buffer != APDU.getCurrentAPDUBuffer()) {
            ISOException.throwIt(ISO7816.SW_UNKNOWN);  // only the global buffer, never a service's array
        }
        binding.copyHostPcr(index, buffer, offset);  // 6A86 outside 0..8, 6982 without a session
    }

    /**
     * HostPcrs, called by a service during INVOKE: copies the open session's verified
     * TPMS_CLOCK_INFO (17 bytes) into the APDU buffer.
     */
    public void copyClock(byte[] buffer, short offset) {
        if (buffer != APDU.getCurrentAPDUBuffer()) {
            ISOException.throwIt(ISO7816.SW_UNKNOWN);  // only the global buffer, never a service's array
        }
        binding.copyClock(buffer, offset);  // 6982 without a session
    }

    /**
     * HostPcrs, called by a service during INVOKE: the registry's verdict on the provider AID in
     * the APDU buffer (6A82 unless registered and enabled).
     */
    public void requireEnabledProvider(byte[] buffer, short offset, byte length) {
        if (buffer != APDU.getCurrentAPDUBuffer()) {
            ISOException.throwIt(ISO7816.SW_UNKNOWN);  // only the global buffer, never a service's array
        }
        algorithms.requireEnabled(buffer, offset, length);
    }

    /** GET DATA 7F49: the identity public key as {@code 7F49 43 { 86 41 04||X||Y }}. */
    private short getData(byte p1, byte p2, short length) {
        if (Util.makeShort(p1, p2) != Constants.DO_IDENTITY_KEY) {
            ISOException.throwIt(Constants.SW_REFERENCED_DATA_NOT_FOUND);
        }
        requireNoData(length);
        byte[] out = io.buffer();
        short start = io.responseOffset();
        short offset = Util.setShort(out, start, Constants.TAG_PUBLIC_KEY);
        out[offset++] = (byte) (2 + Constants.EC_POINT_LENGTH);
        out[offset++] = Constants.TAG_EC_POINT;
        out[offset++] = (byte) Constants.EC_POINT_LENGTH;
        return (short) (identity.writePublicPoint(out, offset) - start);
    }

    /** The SELECT response: {@code A1 L { 80 card id | 81 version | 82 features | 83 | 84 | 85 }}. */
    private short writeInfo(byte[] out) {
        short offset = 0;
        out[offset++] = Constants.TAG_INFO_TEMPLATE;
        offset++;   // length, below
        out[offset++] = Constants.TAG_CARD_ID;
        out[offset++] = (byte) Constants.CARD_ID_LENGTH;
        offset = identity.writeId(out, offset);
        out[offset++] = Constants.TAG_APPLET_VERSION;
        out[offset++] = (byte) 2;
        out[offset++] = Constants.VERSION_MAJOR;
        out[offset++] = Constants.VERSION_MINOR;
        offset = writeShortObject(out, offset, Constants.TAG_FEATURES, features);
        offset = writeShortObject(out, offset, Constants.TAG_MAX_COMMAND, Constants.MAX_COMMAND_DATA);
        offset = writeShortObject(out, offset, Constants.TAG_MAX_RESPONSE, Constants.MAX_RESPONSE_DATA);
        offset = writeShortObject(out, offset, Constants.TAG_SERVICE_WINDOW,
                (short) (serviceLimit(APDU.getCurrentAPDUBuffer()) - SuiteService.DATA_OFFSET));
        out[1] = (byte) (offset - 2);
        return offset;
    }

    private static short writeShortObject(byte[] out, short offset, byte tag, short value) {
        out[offset++] = tag;
        out[offset++] = (byte) 2;
        return Util.setShort(out, offset, value);
    }

    /** Each INS belongs to one class: ISO (00) or proprietary (80). Anything else: 6E00. */
    private static void requireClass(byte claClass, byte expected) {
        if (claClass != expected) {
            ISOException.throwIt(ISO7816.SW_CLA_NOT_SUPPORTED);
            return;
        }
    }

    private static void requireNoParameters(byte p1, byte p2) {
        if (p1 != Constants.P1_NONE || p2 != Constants.P2_NONE) {
            ISOException.throwIt(ISO7816.SW_INCORRECT_P1P2);
            return;
        }
    }

    private static void requireNoData(short length) {
        if (length != 0) {
            ISOException.throwIt(ISO7816.SW_WRONG_LENGTH);
            return;
        }
    }
}
