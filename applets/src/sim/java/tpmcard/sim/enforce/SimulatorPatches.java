package tpmcard.sim.enforce;

import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Patches to jCardSim 3.0.6.0 itself (not card code): its random generators.
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

    private SimulatorPatches() {}

    static byte[] transform(String internalName, byte[] bytes) {
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
