package tpmcard.mtpm;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.mtpm.ClosureEngineTest.load;
import static tpmcard.mtpm.ClosureEngineTest.name;
import static tpmcard.mtpm.ClosureEngineTest.runByName;
import static tpmcard.mtpm.ClosureEngineTest.runImage;
import static tpmcard.mtpm.ClosureEngineTest.seal;
import static tpmcard.mtpm.MtpmCard.concat;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Arrays;
import org.junit.Test;

/**
 * The closure commands (docs/closures.md): sealed images refused when altered, renamed or sealed
 * by another card; header caps; signed images and the registered authority; count-limited keys
 * reached from a closure (CSIGN), charged once per released signature, and refused after a store
 * write of the same run; LIST, STORE, REMOVE.
 */
public class ClosureCommandsTest {
    /** A plain image: the 32-byte header of docs/closures.md, then the code. */
    static byte[] image(String name, int stack, int memory, int output, int store, int steps, byte[] code) {
        byte[] h = new byte[ClosureConstants.HEADER_LENGTH];
        System.arraycopy(name(name), 0, h, 0, 8);
        h[ClosureConstants.H_STACK] = (byte) stack;
        h[ClosureConstants.H_MEMORY] = (byte) (memory >> 8);
        h[ClosureConstants.H_MEMORY + 1] = (byte) memory;
        h[ClosureConstants.H_OUTPUT] = (byte) output;
        h[ClosureConstants.H_STORE] = (byte) (store >> 8);
        h[ClosureConstants.H_STORE + 1] = (byte) store;
        h[ClosureConstants.H_STEPS] = (byte) (steps >> 8);
        h[ClosureConstants.H_STEPS + 1] = (byte) steps;
        h[ClosureConstants.H_CODE] = (byte) (code.length >> 8);
        h[ClosureConstants.H_CODE + 1] = (byte) code.length;
        return concat(h, code);
    }

    static byte[] b(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    /** pushb 0; data "hi"; pushb 0; pushb 2; out; halt. */
    static final byte[] HI = b(0x11, 0, 0x37, 2, 'h', 'i', 0x11, 0, 0x11, 2, 0x40, 0x00);

    /** The key reference is in the args (memory[0..5)); signs "msg" (memory[8..11)), outputs the DER. */
    static final byte[] SIGN = b(0x11, 8, 0x37, 3, 'm', 's', 'g',
            0x11, 0, 0x11, 16, 0x11, 8, 0x11, 3, 0x60,
            0x11, 16, 0x14, 0x40, 0x00);

    @Test
    public void alteredRenamedAndForeignImagesAreRefused() {
        MtpmCard card = MtpmCard.installed();
        byte[] sealed = seal(card, image("hi", 4, 8, 2, 0, 100, HI));
        assertArrayEquals("hi".getBytes(), runImage(card, sealed, new byte[0]).data);
        for (int at : new int[] {0x11, ClosureConstants.S_HEADER + 11, ClosureConstants.S_NONCE + 1,
                                 ClosureConstants.SEALED_PREFIX, sealed.length - 1}) {
            byte[] altered = sealed.clone();
            altered[at] ^= 1;
            int sw = at < ClosureConstants.S_HEADER ? 0x6A88 : 0x6984;  // the card id names the card
            assertEquals("byte " + at, sw, runImage(card, altered, new byte[0]).sw);
            assertEquals(sw, card.invoke(ClosureConstants.INS_CLOSURE_LOAD, 0, 0, concat(new byte[] {0}, altered)).sw);
        }
        byte[] renamed = sealed.clone();
        renamed[ClosureConstants.S_HEADER] = 'x';
        assertEquals(0x6984, runImage(card, renamed, new byte[0]).sw);
        MtpmCard other = MtpmCard.installed(new byte[] {9, 9, 9});
        assertEquals(0x6A88, runImage(other, sealed, new byte[0]).sw);
        assertEquals(0x6A88, other.invoke(ClosureConstants.INS_CLOSURE_LOAD, 0, 0, concat(new byte[] {0}, sealed)).sw);
        byte[] again = seal(other, image("hi", 4, 8, 2, 0, 100, HI));
        assertTrue(!Arrays.equals(again, sealed));
        assertArrayEquals("hi".getBytes(), runImage(other, again, new byte[0]).data);
    }

    @Test
    public void headersOverTheCardsCapsAreRefusedAtSeal() {
        MtpmCard card = MtpmCard.installed();
        int[][] bad = {{33, 8, 2, 0, 100}, {4, 257, 2, 0, 100}, {4, 8, 201, 0, 100}, {4, 8, 2, 257, 100},
                       {4, 8, 2, 0, 20001}, {0, 8, 2, 0, 100}, {4, 8, 2, 0, 0}};
        for (int[] v : bad) {
            card.assertSw(0x6A80, ClosureConstants.INS_CLOSURE_SEAL, 0, 0, image("hi", v[0], v[1], v[2], v[3], v[4], HI));
        }
        card.assertSw(0x6A80, ClosureConstants.INS_CLOSURE_SEAL, 0, 0, image("h i", 4, 8, 2, 0, 100, HI));
        card.assertSw(0x6700, ClosureConstants.INS_CLOSURE_SEAL, 0, 0,
                Arrays.copyOf(image("hi", 4, 8, 2, 0, 100, HI), 40));
        card.assertSw(0x6A80, ClosureConstants.INS_CLOSURE_SEAL, 0, 0,
                concat(image("hi", 4, 8, 2, 0, 100, HI), b(0x30)));  // trailing bytes without FLAG_SIGNED
        seal(card, image("hi", 32, 256, 200, 256, 20000, HI));  // the caps themselves are fine
    }

    @Test
    public void signedImagesNeedTheRegisteredAuthority() throws Exception {
        MtpmCard card = MtpmCard.installed();
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair authority = generator.generateKeyPair();
        byte[] point = point((ECPublicKey) authority.getPublic());
        byte[] plain = image("hi", 4, 8, 2, 0, 100, HI);
        plain[ClosureConstants.H_FLAGS] = ClosureConstants.FLAG_SIGNED;
        System.arraycopy(Crypto.sha256(point), 0, plain, ClosureConstants.H_AUTHOR, 8);
        Signature signer = Signature.getInstance("SHA256withECDSA");
        signer.initSign(authority.getPrivate());
        signer.update(plain);
        byte[] signed = concat(plain, signer.sign());
        card.assertSw(0x6A85, ClosureConstants.INS_CLOSURE_SEAL, 0, 0, signed);  // no authority yet
        byte[] set = concat(b(0), point);
        card.assertSw(0x6A82, ClosureConstants.INS_CLOSURE_AUTHORITY_SET, 0, 0, set);  // unowned
        card.ok(Constants.INS_TAKE_OWNERSHIP, 0, 0, "owner".getBytes());
        byte[] owner = concat(b(5), "owner".getBytes());
        card.ok(ClosureConstants.INS_CLOSURE_AUTHORITY_SET, 0, 0, concat(owner, point));
        assertArrayEquals(point, card.ok(ClosureConstants.INS_CLOSURE_AUTHORITY_GET, 0, 0, new byte[0]));
        byte[] forged = signed.clone();
        forged[ClosureConstants.HEADER_LENGTH + 4] = 'j';
        card.assertSw(0x6A85, ClosureConstants.INS_CLOSURE_SEAL, 0, 0, forged);
        byte[] sealed = seal(card, signed);
        card.ok(ClosureConstants.INS_CLOSURE_LOAD, 0, 0, concat(owner, sealed));
        byte[] list = card.ok(ClosureConstants.INS_CLOSURE_LIST, 0, 0, new byte[0]);
        assertEquals(ClosureConstants.LIST_ENTRY_LENGTH, list.length);
        assertEquals(ClosureConstants.FLAG_SIGNED, list[10]);
        assertEquals(1, list[11]);  // trusted
        assertArrayEquals(Arrays.copyOf(Crypto.sha256(plain), 8), Arrays.copyOfRange(list, 18, 26));
        card.ok(ClosureConstants.INS_CLOSURE_AUTHORITY_SET, 0, 0, owner);  // removed
        assertEquals(0, card.ok(ClosureConstants.INS_CLOSURE_LIST, 0, 0, new byte[0])[11]);
        card.assertSw(0x6A88, ClosureConstants.INS_CLOSURE_AUTHORITY_GET, 0, 0, new byte[0]);
        card.assertSw(0x63C7, ClosureConstants.INS_CLOSURE_REMOVE, 0, 0, concat(b(5), "wrong".getBytes(), name("hi")));
        card.ok(ClosureConstants.INS_CLOSURE_REMOVE, 0, 0, concat(owner, name("hi")));
        assertEquals(0, card.ok(ClosureConstants.INS_CLOSURE_LIST, 0, 0, new byte[0]).length);
    }

    @Test
    public void csignChargesACountedKeyPerReleasedSignature() throws Exception {
        MtpmCard card = MtpmCard.installed();
        byte[] created = CountedKeysTest.create(card, Constants.KEY_KIND_ECDSA_P256, 2);
        PublicKey key = CountedKeysTest.publicKey(created);
        byte[] reference = concat(Arrays.copyOf(created, 4), b(0));
        byte[] sealed = seal(card, image("signer", 8, 96, 72, 0, 100, SIGN));
        for (int i = 0; i < 2; i++) {
            MtpmCard.Result r = runImage(card, sealed, reference);
            assertEquals(0x9000, r.sw);
            assertTrue(Crypto.verify(key, "msg".getBytes(), r.data));
        }
        assertEquals(0x6984, runImage(card, sealed, reference).sw);  // exhausted: the key's own SW
        // A store write before the key's use in the same run: refused, nothing charged or stored.
        byte[] other = CountedKeysTest.create(card, Constants.KEY_KIND_ECDSA_P256, 5);
        byte[] first = concat(b(0x11, 0, 0x11, 0, 0x11, 1, 0x42), SIGN);
        load(card, seal(card, image("order", 8, 96, 72, 1, 100, first)));
        assertEquals(0x660B, runByName(card, "order", concat(Arrays.copyOf(other, 4), b(0))).sw);
        assertEquals(5, CountedKeysTest.remaining(card, other));
        assertArrayEquals(b(0, 1, 0, 0), card.ok(ClosureConstants.INS_CLOSURE_STORE, 0, 0, name("order")));
        // A wrong handle: 6A88, no charge anywhere.
        assertEquals(0x6A88, runImage(card, sealed, b(0x8C, 7, 0, 9, 0)).sw);
        assertEquals(5, CountedKeysTest.remaining(card, other));
    }

    static byte[] point(ECPublicKey key) {
        return concat(b(4), fixed(key.getW().getAffineX()), fixed(key.getW().getAffineY()));
    }

    static byte[] fixed(BigInteger v) {
        byte[] raw = v.toByteArray();
        byte[] out = new byte[32];
        int n = Math.min(32, raw.length);
        System.arraycopy(raw, raw.length - n, out, 32 - n, n);
        return out;
    }
}
