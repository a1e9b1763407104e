package tpmcard.sim.enforce;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * Rewrites card code to call {@link Firewall}: context entry/exit around applet entry points and
 * Shareable methods, ownership at allocation, a check before every array access and on every
 * array or crypto object handed to the JavaCard API, and crypto factories redirected so that
 * {@code externalAccess = true} works (jCardSim 3.0.6.0 throws for it, jcardsim issue #45).
 *
 * <p>Every inserted sequence is straight-line with the same net stack effect, so stack map frames
 * stay valid; the one handler added (context exit on a throw) carries its own full frame. The
 * original array instructions stay in place for rewriters after this one.
 */
final class FirewallRewriter implements ClassRewriter {
    private static final String HOOKS = "tpmcard/sim/enforce/Firewall";

    @Override
    public ClassVisitor wrap(ClassVisitor next, String className) {
        return new ClassVisitor(Opcodes.ASM9, next) {
            private boolean isInterface;
            private boolean hasInterfaces;
            private final Map<String, String[]> bridges = new LinkedHashMap<>();  // name -> {opcode, owner, name, desc, itf}

            @Override
            public void visit(int version, int access, String name, String signature, String superName, String[] interfaces) {
                isInterface = (access & Opcodes.ACC_INTERFACE) != 0;
                hasInterfaces = interfaces != null && interfaces.length > 0;
                super.visit(version, access, name, signature, superName, interfaces);
            }

            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String signature, String[] exceptions) {
                MethodVisitor mv = super.visitMethod(access, name, desc, signature, exceptions);
                if (mv == null || (access & Opcodes.ACC_ABSTRACT) != 0) {
                    return mv;
                }
                int kind = entryKind(access, name, desc, hasInterfaces);
                CodeRewriter code = new CodeRewriter(mv, className, access, kind, isInterface, bridges);
                // A class initialiser runs when the JVM first touches the class, which may be inside
                // some applet's install; on a card static data is the package's, set at load time
                // by the JCRE. Its allocations stay unowned (readable from every context).
                code.owned = !name.equals("<clinit>");
                return code;
            }

            @Override
            public void visitEnd() {
                for (Map.Entry<String, String[]> b : bridges.entrySet()) {
                    emitBridge(cv, b.getKey(), b.getValue());
                }
                super.visitEnd();
            }
        };
    }

    /** -1: not an entry point; else the Firewall entry kind. */
    static int entryKind(int access, String name, String desc, boolean hasInterfaces) {
        boolean isStatic = (access & Opcodes.ACC_STATIC) != 0;
        if (isStatic) {
            return name.equals("install") && desc.equals("([BSB)V") ? Firewall.INSTALL : -1;
        }
        if ((name.equals("process") && desc.equals("(Ljavacard/framework/APDU;)V"))
                || (name.equals("select") && desc.equals("()Z"))
                || (name.equals("deselect") && desc.equals("()V"))
                || (name.equals("uninstall") && desc.equals("()V"))) {
            return Firewall.SELECTED;
        }
        if (name.equals("getShareableInterfaceObject")) {
            return Firewall.SHARED;
        }
        if (hasInterfaces && (access & Opcodes.ACC_PUBLIC) != 0 && !name.startsWith("<")) {
            return Firewall.SHARED;
        }
        return -1;
    }

    static boolean isApi(String owner) {
        return owner.startsWith("javacard/") || owner.startsWith("javacardx/");
    }

    static boolean isCryptoType(String internalName) {
        return internalName.startsWith("javacard/security/") || internalName.startsWith("javacardx/crypto/");
    }

    private static final class CodeRewriter extends MethodVisitor {
        private final String className;
        private final int access;
        private final int kind;
        private final boolean isInterface;
        private final Map<String, String[]> bridges;
        private final Label start = new Label();
        private final Label end = new Label();
        private final Label handler = new Label();
        /** Whether allocations here get the active context as owner (not in class initialisers). */
        boolean owned = true;

        CodeRewriter(MethodVisitor mv, String className, int access, int kind, boolean isInterface,
                     Map<String, String[]> bridges) {
            super(Opcodes.ASM9, mv);
            this.className = className;
            this.access = access;
            this.kind = kind;
            this.isInterface = isInterface;
            this.bridges = bridges;
        }

        @Override
        public void visitCode() {
            super.visitCode();
            if (kind >= 0) {
                if ((access & Opcodes.ACC_STATIC) != 0) {
                    super.visitLdcInsn(Type.getObjectType(className));
                    super.visitLdcInsn(kind);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "enterStatic", "(Ljava/lang/Class;I)V", false);
                } else {
                    super.visitVarInsn(Opcodes.ALOAD, 0);
                    super.visitLdcInsn(kind);
                    super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "enter", "(Ljava/lang/Object;I)V", false);
                }
                super.visitLabel(start);
            }
        }

        @Override
        public void visitInsn(int opcode) {
            switch (opcode) {
                case Opcodes.IALOAD: case Opcodes.BALOAD: case Opcodes.CALOAD: case Opcodes.SALOAD:
                case Opcodes.AALOAD: case Opcodes.LALOAD: case Opcodes.FALOAD: case Opcodes.DALOAD:
                    super.visitInsn(Opcodes.DUP2);
                    hook("read", "(Ljava/lang/Object;I)V");
                    break;
                case Opcodes.IASTORE: case Opcodes.BASTORE: case Opcodes.CASTORE: case Opcodes.SASTORE:
                case Opcodes.AASTORE: case Opcodes.FASTORE:
                    // [a, i, v] -> check(a, i) -> [a, i, v], without locals (all category 1)
                    super.visitInsn(Opcodes.DUP_X2);   // v a i v
                    super.visitInsn(Opcodes.POP);      // v a i
                    super.visitInsn(Opcodes.DUP2);     // v a i a i
                    hook("write", "(Ljava/lang/Object;I)V");
                    super.visitInsn(Opcodes.DUP2_X1);  // a i v a i
                    super.visitInsn(Opcodes.POP2);     // a i v
                    break;
                case Opcodes.ARRAYLENGTH:
                    super.visitInsn(Opcodes.DUP);
                    hook("length", "(Ljava/lang/Object;)V");
                    break;
                case Opcodes.IRETURN: case Opcodes.LRETURN: case Opcodes.FRETURN: case Opcodes.DRETURN:
                case Opcodes.ARETURN: case Opcodes.RETURN:
                    if (kind >= 0) {
                        hook("exit", "()V");
                    }
                    break;
                default:
                    break;
            }
            super.visitInsn(opcode);
        }

        @Override
        public void visitIntInsn(int opcode, int operand) {
            super.visitIntInsn(opcode, operand);
            if (opcode == Opcodes.NEWARRAY && owned) {
                super.visitInsn(Opcodes.DUP);
                hook("newArray", "(Ljava/lang/Object;)V");
            }
        }

        @Override
        public void visitTypeInsn(int opcode, String type) {
            super.visitTypeInsn(opcode, type);
            if (!owned) {
                return;
            }
            if (opcode == Opcodes.ANEWARRAY) {
                super.visitInsn(Opcodes.DUP);
                hook("newArray", "(Ljava/lang/Object;)V");
            } else if (opcode == Opcodes.NEW) {
                super.visitLdcInsn(type);
                hook("newObject", "(Ljava/lang/String;)V");
            }
        }

        @Override
        public void visitMethodInsn(int opcode, String owner, String name, String desc, boolean itf) {
            if (!isApi(owner)) {
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                return;
            }
            Type[] args = Type.getArgumentTypes(desc);
            boolean factory = opcode == Opcodes.INVOKESTATIC && isCryptoType(owner)
                    && (name.startsWith("getInstance") || name.equals("getInitializedMessageDigestInstance")
                        || name.equals("buildKey"));
            if (factory && name.equals("buildKey")) {
                // buildKey's boolean is keyEncryption, not externalAccess (JC 3.0.5 KeyBuilder):
                // what restricts a key is its type (a *_TRANSIENT_DESELECT key), see createdKey.
                if (desc.equals("(BSZ)Ljavacard/security/Key;")) {
                    // through the card's profile: NO_SUCH_ALGORITHM, or a transient EC private key
                    // that jCardSim 3.0.6.0 lacks (see Firewall.buildKey)
                    hook("buildKey", desc);
                } else {
                    super.visitMethodInsn(opcode, owner, name, desc, itf);
                }
                super.visitInsn(Opcodes.DUP);
                hook("createdKey", "(Ljava/lang/Object;)V");
                return;
            }
            if (factory) {
                boolean hasFlag = args.length > 0 && args[args.length - 1] == Type.BOOLEAN_TYPE;
                if (hasFlag) {
                    hook("external", "(Z)Z");
                }
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                super.visitInsn(Opcodes.DUP);
                // Without an externalAccess parameter (RandomData.getInstance) nothing restricts use.
                hook(hasFlag ? "created" : "createdUnrestricted", "(Ljava/lang/Object;)V");
                return;
            }
            if (opcode == Opcodes.INVOKESPECIAL) {
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                if (owner.equals("javacard/security/KeyPair") && name.equals("<init>")) {
                    super.visitInsn(Opcodes.DUP);  // javac's NEW, DUP, args, <init> leaves the object on top
                    hook("createdUnrestricted", "(Ljava/lang/Object;)V");
                }
                return;
            }
            if (owner.equals("javacard/framework/JCSystem") && name.startsWith("makeTransient")) {
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                super.visitInsn(Opcodes.DUP);
                hook("transientArray", "(Ljava/lang/Object;)V");
                return;
            }
            // Object deletion, which jCardSim 3.0.6.0 lacks (it throws) and JCOP cards have
            // (JCAlgTest: isObjectDeletionSupported yes): the simulator frees the RAM of what
            // is unreachable when the applet returns (CardRules.collectGarbage).
            if (owner.equals("javacard/framework/JCSystem") && name.equals("requestObjectDeletion")) {
                hook("deletionRequested", "()V");
                return;
            }
            if (owner.equals("javacard/framework/JCSystem") && name.equals("getAvailableMemory") && desc.equals("(B)S")) {
                hook("availableMemory", desc);  // the card profile's transient RAM (RAM rule)
                return;
            }
            if (owner.equals("javacard/framework/JCSystem") && name.equals("isObjectDeletionSupported")) {
                hook("objectDeletionSupported", "()Z");
                return;
            }
            if (owner.equals("javacard/framework/JCSystem") && name.equals("makeGlobalArray")) {
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                super.visitInsn(Opcodes.DUP);
                hook("globalArray", "(Ljava/lang/Object;)V");
                return;
            }
            boolean receiverIsCrypto = opcode != Opcodes.INVOKESTATIC && isCryptoType(owner);
            boolean checked = receiverIsCrypto;
            for (Type t : args) {
                checked |= t.getSort() == Type.ARRAY || (t.getSort() == Type.OBJECT && isCryptoType(t.getInternalName()));
            }
            if (!checked || isInterface || owner.equals("javacard/framework/Applet")) {
                super.visitMethodInsn(opcode, owner, name, desc, itf);
                return;
            }
            String bridgeDesc = opcode == Opcodes.INVOKESTATIC ? desc
                    : "(" + Type.getObjectType(owner).getDescriptor() + desc.substring(1);
            String key = opcode + " " + owner + " " + name + " " + desc;
            String bridgeName = null;
            for (Map.Entry<String, String[]> b : bridges.entrySet()) {
                if (b.getValue()[5].equals(key)) {
                    bridgeName = b.getKey();
                }
            }
            if (bridgeName == null) {
                bridgeName = "tpmcard$api$" + bridges.size();
                bridges.put(bridgeName, new String[] {Integer.toString(opcode), owner, name, desc,
                        Boolean.toString(itf), key, bridgeDesc});
            }
            super.visitMethodInsn(Opcodes.INVOKESTATIC, className, bridgeName, bridgeDesc, false);
        }

        private void hook(String name, String desc) {
            super.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, name, desc, false);
        }

        @Override
        public void visitMaxs(int maxStack, int maxLocals) {
            if (kind >= 0) {
                super.visitLabel(end);
                super.visitTryCatchBlock(start, end, handler, null);
                super.visitLabel(handler);
                super.visitFrame(Opcodes.F_FULL, 0, new Object[0], 1, new Object[] {"java/lang/Throwable"});
                hook("exit", "()V");
                super.visitInsn(Opcodes.ATHROW);
            }
            super.visitMaxs(maxStack, maxLocals);
        }
    }

    /** A private static bridge: check the receiver and every array / crypto argument, then call. */
    static void emitBridge(ClassVisitor cv, String bridgeName, String[] b) {
        int opcode = Integer.parseInt(b[0]);
        String owner = b[1];
        String name = b[2];
        String desc = b[3];
        boolean itf = Boolean.parseBoolean(b[4]);
        String bridgeDesc = b[6];
        MethodVisitor mv = cv.visitMethod(Opcodes.ACC_PRIVATE | Opcodes.ACC_STATIC | Opcodes.ACC_SYNTHETIC,
                bridgeName, bridgeDesc, null, null);
        mv.visitCode();
        Type[] params = Type.getArgumentTypes(bridgeDesc);
        int slot = 0;
        List<int[]> loads = new ArrayList<>();
        for (int i = 0; i < params.length; i++) {
            Type t = params[i];
            boolean receiver = opcode != Opcodes.INVOKESTATIC && i == 0;
            if (t.getSort() == Type.ARRAY) {
                mv.visitVarInsn(Opcodes.ALOAD, slot);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "apiArray", "(Ljava/lang/Object;)V", false);
            } else if (t.getSort() == Type.OBJECT && (receiver ? isCryptoType(owner) : isCryptoType(t.getInternalName()))) {
                mv.visitVarInsn(Opcodes.ALOAD, slot);
                mv.visitMethodInsn(Opcodes.INVOKESTATIC, HOOKS, "use", "(Ljava/lang/Object;)V", false);
            }
            loads.add(new int[] {t.getOpcode(Opcodes.ILOAD), slot});
            slot += t.getSize();
        }
        for (int[] l : loads) {
            mv.visitVarInsn(l[0], l[1]);
        }
        mv.visitMethodInsn(opcode, owner, name, desc, itf);
        mv.visitInsn(Type.getReturnType(desc).getOpcode(Opcodes.IRETURN));
        mv.visitMaxs(0, 0);
        mv.visitEnd();
    }
}
