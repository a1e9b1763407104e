package tpmcard.sim.enforce;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * Routes every persistent write of card code through {@link Journal}, so that transactions roll
 * back and a power cut can fall on any write:
 *
 * <ul>
 * <li>{@code putfield} (outside constructors, which run only at install): a call to
 * {@link Journal#putField} first, with the same stack after it;</li>
 * <li>{@code bastore/sastore/castore/iastore/aastore}: replaced by {@link Journal}'s static
 * method of the same stack effect, which journals and stores;</li>
 * <li>calls of {@code Util.arrayCopy/arrayCopyNonAtomic/arrayFillNonAtomic/setShort} (jCardSim's
 * code, not rewritten) and of {@code JCSystem.begin/commit/abortTransaction} and the commit
 * capacity queries: redirected to {@link Journal}'s methods of the same signature;</li>
 * <li>calls that change a key's contents ({@code set*} and {@code clearKey} on the
 * {@code javacard.security} key interfaces, {@code KeyPair.genKeyPair}): redirected to a private
 * static bridge added to the class, which calls {@link Journal#beforeKeyWrite} on the receiver
 * and then makes the original call. The same for {@code OwnerPIN.update/resetAndUnblock} (the
 * PIN value; {@code check}'s try counter takes no part in transactions, JC API 3.0.5 OwnerPIN).</li>
 * </ul>
 *
 * <p>Static initialisers are left alone: on a card they run when the package is loaded, never
 * inside a command (here they run on first use, possibly inside a transaction).
 *
 * <p>No instruction added here branches, so the class's stack map frames stay valid; no field is
 * added (the card store fingerprints field layouts).
 */
public final class PersistentWriteRewriter implements ClassRewriter {
    static final String JOURNAL = Type.getInternalName(Journal.class);
    private static final Set<String> UTIL_WRITES = Set.of(
            "arrayCopy", "arrayCopyNonAtomic", "arrayFillNonAtomic", "setShort");
    private static final Set<String> TRANSACTION_CALLS = Set.of(
            "beginTransaction", "commitTransaction", "abortTransaction", "getUnusedCommitCapacity",
            "getMaxCommitCapacity");
    private static final String BRIDGE_PREFIX = "tpmcard$keyWrite$";

    /**
     * {@code -Dtpmcard.sim.journal=off} loads card code without these hooks: jCardSim's own
     * transactions again (no rollback, no power loss). For measuring the journal's cost only.
     */
    static final boolean ENABLED = !"off".equals(System.getProperty("tpmcard.sim.journal"));

    @Override
    public ClassVisitor wrap(ClassVisitor next, String className) {
        if (!ENABLED) {
            return next;
        }
        return new ClassVisitor(Opcodes.ASM9, next) {
            private final Map<String, Bridge> bridges = new LinkedHashMap<>();
            private boolean isInterface;

            @Override
            public void visit(int version, int access, String name, String signature, String superName,
                              String[] interfaces) {
                isInterface = (access & Opcodes.ACC_INTERFACE) != 0;
                super.visit(version, access, name, signature, superName, interfaces);
            }

            @Override
            public MethodVisitor visitMethod(int access, String name, String descriptor, String signature,
                                             String[] exceptions) {
                MethodVisitor mv = super.visitMethod(access, name, descriptor, signature, exceptions);
                if (mv == null || isInterface || "<clinit>".equals(name)) {
                    return mv;  // a static initialiser runs when the package is loaded, not in a command
                }
                return new Writes(mv, className, "<init>".equals(name), bridges);
            }

            @Override
            public void visitEnd() {
                for (Bridge b : bridges.values()) {
                    b.emit(cv, className);
                }
                super.visitEnd();
            }
        };
    }

    /** A key-writing call site's bridge: static, receiver first, then the call's arguments. */
    private static final class Bridge {
        final String name;
        final int opcode;
        final String owner;
        final String method;
        final String descriptor;
        final boolean ownerIsInterface;

        Bridge(String name, int opcode, String owner, String method, String descriptor, boolean ownerIsInterface) {
            this.name = name;
            this.opcode = opcode;
            this.owner = owner;
            this.method = method;
            this.descriptor = descriptor;
            this.ownerIsInterface = ownerIsInterface;
        }

        String bridgeDescriptor() {
            Type d = Type.getMethodType(descriptor);
            Type[] args = d.getArgumentTypes();
            Type[] all = new Type[args.length + 1];
            all[0] = Type.getObjectType(owner);
            System.arraycopy(args, 0, all, 1, args.length);
            return Type.getMethodDescriptor(d.getReturnType(), all);
        }

        void emit(ClassVisitor cv, String className) {
            MethodVisitor mv = cv.visitMethod(Opcodes.ACC_PRIVATE | Opcodes.ACC_STATIC | Opcodes.ACC_SYNTHETIC,
                    name, bridgeDescriptor(), null, null);
            mv.visitCode();
            mv.visitVarInsn(Opcodes.ALOAD, 0);
            mv.visitMethodInsn(Opcodes.INVOKESTATIC, JOURNAL, "beforeKeyWrite", "(Ljava/lang/Object;)V", false);
            Type d = Type.getMethodType(bridgeDescriptor());
            int slot = 0;
            for (Type t : d.getArgumentTypes()) {
                mv.visitVarInsn(t.getOpcode(Opcodes.ILOAD), slot);
                slot += t.getSize();
            }
            mv.visitMethodInsn(opcode, owner, method, descriptor, ownerIsInterface);
            mv.visitInsn(d.getReturnType().getOpcode(Opcodes.IRETURN));
            mv.visitMaxs(slot + 1, slot);  // recomputed by the class writer (COMPUTE_MAXS)
            mv.visitEnd();
        }
    }

    private static final class Writes extends MethodVisitor {
        private final String className;
        private final boolean constructor;
        private final Map<String, Bridge> bridges;

        Writes(MethodVisitor mv, String className, boolean constructor, Map<String, Bridge> bridges) {
            super(Opcodes.ASM9, mv);
            this.className = className;
            this.constructor = constructor;
            this.bridges = bridges;
        }

        @Override
        public void visitFieldInsn(int opcode, String owner, String name, String descriptor) {
            if (opcode == Opcodes.PUTFIELD && !constructor && Type.getType(descriptor).getSize() == 1) {
                // obj, value -> obj, value, obj -> ... Journal.putField(obj, Owner.class, "name")
                super.visitInsn(Opcodes.SWAP);
                super.visitInsn(Opcodes.DUP_X1);
                super.visitLdcInsn(Type.getObjectType(owner));
                super.visitLdcInsn(name);
                super.visitMethodInsn(Opcodes.INVOKESTATIC, JOURNAL, "putField",
                        "(Ljava/lang/Object;Ljava/lang/Class;Ljava/lang/String;)V", false);
            }
            super.visitFieldInsn(opcode, owner, name, descriptor);
        }

        @Override
        public void visitInsn(int opcode) {
            switch (opcode) {
                case Opcodes.BASTORE:
                    store("bastore", "(Ljava/lang/Object;II)V");
                    return;
                case Opcodes.SASTORE:
                    store("sastore", "([SIS)V");
                    return;
                case Opcodes.CASTORE:
                    store("castore", "([CIC)V");
                    return;
                case Opcodes.IASTORE:
                    store("iastore", "([III)V");
                    return;
                case Opcodes.AASTORE:
                    store("aastore", "([Ljava/lang/Object;ILjava/lang/Object;)V");
                    return;
                default:
                    super.visitInsn(opcode);
            }
        }

        private void store(String hook, String descriptor) {
            super.visitMethodInsn(Opcodes.INVOKESTATIC, JOURNAL, hook, descriptor, false);
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String descriptor, boolean isInterface) {
            if (opcode == Opcodes.INVOKESTATIC && "javacard/framework/Util".equals(owner) && UTIL_WRITES.contains(name)
                    || opcode == Opcodes.INVOKESTATIC && "javacard/framework/JCSystem".equals(owner)
                    && TRANSACTION_CALLS.contains(name)) {
                super.visitMethodInsn(Opcodes.INVOKESTATIC, JOURNAL, name, descriptor, false);
                return;
            }
            if (isKeyWrite(opcode, owner, name)) {
                String key = opcode + " " + owner + "." + name + descriptor;
                Bridge b = bridges.get(key);
                if (b == null) {
                    b = new Bridge(BRIDGE_PREFIX + bridges.size(), opcode, owner, name, descriptor, isInterface);
                    bridges.put(key, b);
                }
                super.visitMethodInsn(Opcodes.INVOKESTATIC, className, b.name, b.bridgeDescriptor(), false);
                return;
            }
            super.visitMethodInsn(opcode, owner, name, descriptor, isInterface);
        }

        private static boolean isKeyWrite(int opcode, String owner, String name) {
            if ("javacard/framework/OwnerPIN".equals(owner)) {
                // The PIN value and the try limit reset (check()'s try counter is not transactional).
                return "update".equals(name) || "resetAndUnblock".equals(name);
            }
            if (!owner.startsWith("javacard/security/") && !owner.startsWith("javacardx/crypto/")) {
                return false;
            }
            if ("javacard/security/KeyPair".equals(owner)) {
                return "genKeyPair".equals(name);
            }
            boolean keyType = owner.endsWith("Key") || owner.startsWith("javacard/security/Key");
            return keyType && opcode != Opcodes.INVOKESTATIC && (name.startsWith("set") || "clearKey".equals(name));
        }
    }
}
