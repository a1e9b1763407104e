package tpmcard.sim.enforce;

import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Patches to jCardSim 3.0.6.0 itself (not card code): its random generators, and a key-length
 * bug ({@link #patchByteContainer}).
 *
 * <p>jCardSim builds every generator as BouncyCastle's {@code DigestRandomGenerator(SHA-1)} with no
 * seed: {@code RandomDataImpl} (RandomData; seeded only with the JVM-wide properties
 * {@code com.licel.jcardsim.randomdata.seed|secure}) and {@code SecureRandomNullProvider}, which
 * {@code AsymmetricSignatureImpl.init} (the ECDSA nonce) and {@code KeyPairImpl.genKeyPair} create
 * afresh each time. So every simulated card draws the same bytes, and an ECDSA key signs two
 * messages with the same nonce. Each constructor here ends by adding 32 bytes from the card's own
 * source ({@link CardRandom}) to the new generator's seed.
 */
final class SimulatorPatches {
    static final String RANDOM_DATA = "com/licel/jcardsim/crypto/RandomDataImpl";
    static final String NULL_PROVIDER_SPI = "com/licel/jcardsim/crypto/SecureRandomNullProvider$1";
    private static final String GENERATOR = "Lcom/licel/jcardsim/bouncycastle/crypto/prng/RandomGenerator;";

    static final String BYTE_CONTAINER = "com/licel/jcardsim/crypto/ByteContainer";

    private SimulatorPatches() {}

    /**
     * jCardSim keeps key components in a ByteContainer whose array only grows: after a 32-byte
     * value, a 31-byte one (an EC scalar with a leading zero byte, 1 in 256) leaves the old last
     * byte behind, and {@code getBigInteger} reads the whole array instead of {@code length}
     * bytes: the key then computes wrong ECDH secrets and signatures. With OS-seeded randomness
     * this broke a random 1 in 256 handshakes of a card that reuses its ephemeral key object.
     * Patched to read exactly {@code length} bytes ({@code new BigInteger(1, data, 0, length)}).
     */
    private static byte[] patchByteContainer(byte[] bytes) {
        ClassReader reader = new ClassReader(bytes);
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        reader.accept(new ClassVisitor(Opcodes.ASM9, writer) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] ex) {
                MethodVisitor mv = super.visitMethod(access, name, desc, sig, ex);
                if (!name.equals("getBigInteger")) {
                    return mv;
                }
                return new MethodVisitor(Opcodes.ASM9, mv) {
                    @Override
                    public void visitMethodInsn(int opcode, String owner, String mname, String mdesc, boolean itf) {
                        if (opcode == Opcodes.INVOKESPECIAL && owner.equals("java/math/BigInteger")
                                && mname.equals("<init>") && mdesc.equals("(I[B)V")) {
                            super.visitInsn(Opcodes.ICONST_0);
                            super.visitVarInsn(Opcodes.ALOAD, 0);
                            super.visitFieldInsn(Opcodes.GETFIELD, BYTE_CONTAINER, "length", "S");
                            super.visitMethodInsn(opcode, owner, mname, "(I[BII)V", false);
                            return;
                        }
                        super.visitMethodInsn(opcode, owner, mname, mdesc, itf);
                    }
                };
            }
        }, 0);
        return writer.toByteArray();
    }

    static byte[] transform(String internalName, byte[] bytes) {
        if (internalName.equals(BYTE_CONTAINER)) {
            return patchByteContainer(bytes);
        }
        if (!internalName.equals(RANDOM_DATA) && !internalName.equals(NULL_PROVIDER_SPI)) {
            return null;
        }
        ClassReader reader = new ClassReader(bytes);
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        reader.accept(new ClassVisitor(Opcodes.ASM9, writer) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] ex) {
                MethodVisitor mv = super.visitMethod(access, name, desc, sig, ex);
                if (!name.equals("<init>")) {
                    return mv;
                }
                return new MethodVisitor(Opcodes.ASM9, mv) {
                    @Override
                    public void visitInsn(int opcode) {
                        if (opcode == Opcodes.RETURN) {
                            super.visitVarInsn(Opcodes.ALOAD, 0);
                            super.visitFieldInsn(Opcodes.GETFIELD, internalName, "engine", GENERATOR);
                            super.visitMethodInsn(Opcodes.INVOKESTATIC, "tpmcard/sim/enforce/CardRandom", "seed",
                                    "(" + GENERATOR + ")V", false);
                        }
                        super.visitInsn(opcode);
                    }
                };
            }
        }, 0);
        return writer.toByteArray();
    }
}
