package tpmcard.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;
import static tpmcard.core.SimulatedCard.assertSw;

import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.util.Arrays;
import javacard.framework.ISO7816;
import javax.crypto.KeyAgreement;
import org.junit.Test;
import tpmcard.lib.P256;

/** GET DATA 7F49: the identity public key, a valid P-256 point. */
public class GetDataTest {
    private static final P256 CURVE = new P256();
    static ECParameterSpec p256() throws Exception {
        AlgorithmParameters parameters = AlgorithmParameters.getInstance("EC");
        parameters.init(new ECGenParameterSpec("secp256r1"));
        return parameters.getParameterSpec(ECParameterSpec.class);
    }

    @Test
    public void identityKeyHasTheDataObjectLayout() {
        SimulatedCard card = SimulatedCard.selected();
        Response r = card.getData(0x7F49);
        assertSw("GET DATA", ISO7816.SW_NO_ERROR, r);
        assertEquals(70, r.data.length);
        assertEquals(0x7F, r.data[0] & 0xFF);
        assertEquals(0x49, r.data[1] & 0xFF);
        assertEquals(0x43, r.data[2]);
        assertEquals(Constants.TAG_EC_POINT, r.data[3]);
        assertEquals(0x41, r.data[4]);
        assertEquals(0x04, r.data[5]);
    }

    @Test
    public void identityKeyIsAPointOnP256() throws Exception {
        byte[] point = SimulatedCard.selected().identityPoint();
        ECParameterSpec spec = p256();
        BigInteger p = new BigInteger(1, CURVE.field);
        BigInteger x = new BigInteger(1, Arrays.copyOfRange(point, 1, 33));
        BigInteger y = new BigInteger(1, Arrays.copyOfRange(point, 33, 65));
        assertTrue(x.compareTo(p) < 0 && y.compareTo(p) < 0);
        BigInteger left = y.modPow(BigInteger.TWO, p);
        BigInteger right = x.pow(3).add(spec.getCurve().getA().multiply(x)).add(spec.getCurve().getB()).mod(p);
        assertEquals("y^2 = x^3 + ax + b", right, left);

        // And the JDK accepts it as a peer key: ECDH validates the point.
        ECPublicKey card = (ECPublicKey) KeyFactory.getInstance("EC")
                .generatePublic(new ECPublicKeySpec(new ECPoint(x, y), spec));
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(spec);
        KeyAgreement agreement = KeyAgreement.getInstance("ECDH");
        agreement.init(generator.generateKeyPair().getPrivate());
        agreement.doPhase(card, true);
        assertEquals(32, agreement.generateSecret().length);
    }

    @Test
    public void identityKeyIsNotTheBasePointNorConstant() {
        byte[] point = SimulatedCard.selected().identityPoint();
        assertNotEquals(Hex.encode(CURVE.g), Hex.encode(point));
        assertNotEquals(Hex.encode(SimulatedCard.installed(new byte[] {1}).identityPointAfterSelect()), Hex.encode(point));
    }

    @Test
    public void identityKeyIsStableAcrossCalls() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] first = card.identityPoint();
        assertArrayEquals(first, card.identityPoint());
        card.selectOk();
        assertArrayEquals(first, card.identityPoint());
    }

    @Test
    public void getDataWithoutLeOrExtendedGivesTheSameObject() {
        SimulatedCard card = SimulatedCard.selected();
        Response expected = card.getData(0x7F49);
        Response noLe = card.transmit(Apdu.shortForm(0x00, 0xCA, 0x7F, 0x49, new byte[0], Apdu.NO_LE));
        assertSw("case 1", ISO7816.SW_NO_ERROR, noLe);
        assertArrayEquals(expected.data, noLe.data);
        Response extended = card.transmit(Apdu.extendedForm(0x00, 0xCA, 0x7F, 0x49, new byte[0], 1000));
        assertSw("case 2E", ISO7816.SW_NO_ERROR, extended);
        assertArrayEquals(expected.data, extended.data);
    }

    @Test
    public void smallLeChainsTheResponse() {
        SimulatedCard card = SimulatedCard.selected();
        byte[] whole = card.getData(0x7F49).data;
        Response first = card.transmit(Apdu.shortForm(0x00, 0xCA, 0x7F, 0x49, new byte[0], 0x20));
        assertSw("first 32 bytes", (short) 0x6126, first);
        Response second = card.transmit(SimulatedCard.getResponse(0x10));
        assertSw("next 16", (short) 0x6116, second);
        Response third = card.transmit(SimulatedCard.getResponse(256));
        assertSw("last 22", ISO7816.SW_NO_ERROR, third);
        byte[] joined = new byte[70];
        System.arraycopy(first.data, 0, joined, 0, 32);
        System.arraycopy(second.data, 0, joined, 32, 16);
        System.arraycopy(third.data, 0, joined, 48, 22);
        assertArrayEquals(whole, joined);
    }

    @Test
    public void unknownDataObjectIs6A88() {
        SimulatedCard card = SimulatedCard.selected();
        for (int tag : new int[] {0x0000, 0x7F21, 0x5F50, 0x7F48, 0x4900, 0xFFFF, 0x0049}) {
            assertSw(String.format("GET DATA %04X", tag), Constants.SW_REFERENCED_DATA_NOT_FOUND, card.getData(tag));
        }
        card.assertWorksNormally();
    }

    @Test
    public void getDataWithCommandDataIsWrongLength() {
        SimulatedCard card = SimulatedCard.selected();
        Response r = card.transmit(Apdu.shortForm(0x00, 0xCA, 0x7F, 0x49, Hex.decode("5C027F49"), 256));
        assertSw("GET DATA with data", ISO7816.SW_WRONG_LENGTH, r);
        card.assertWorksNormally();
    }

    @Test
    public void getDataCannotBeChained() {
        SimulatedCard card = SimulatedCard.selected();
        Response r = card.transmit(Apdu.shortForm(0x10, 0xCA, 0x7F, 0x49, new byte[0], 256));
        assertSw("GET DATA with the chaining bit", ISO7816.SW_COMMAND_CHAINING_NOT_SUPPORTED, r);
        card.assertWorksNormally();
    }
}
