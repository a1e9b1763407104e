package tpmcard.check;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.tree.AbstractInsnNode;
import org.objectweb.asm.tree.ClassNode;
import org.objectweb.asm.tree.FieldInsnNode;
import org.objectweb.asm.tree.FieldNode;
import org.objectweb.asm.tree.IntInsnNode;
import org.objectweb.asm.tree.LdcInsnNode;
import org.objectweb.asm.tree.LineNumberNode;
import org.objectweb.asm.tree.MethodInsnNode;
import org.objectweb.asm.tree.MethodNode;
import org.objectweb.asm.tree.MultiANewArrayInsnNode;
import org.objectweb.asm.tree.TryCatchBlockNode;
import org.objectweb.asm.tree.TypeInsnNode;
import org.objectweb.asm.tree.analysis.Analyzer;
import org.objectweb.asm.tree.analysis.AnalyzerException;
import org.objectweb.asm.tree.analysis.BasicInterpreter;
import org.objectweb.asm.tree.analysis.BasicValue;
import org.objectweb.asm.tree.analysis.Interpreter;
import org.objectweb.asm.tree.analysis.Value;

/**
 * The rules of Oracle's JavaCard converter (and of a card after install) that jCardSim does not
 * enforce, checked on the card packages' class files with ASM, so CI needs no Java Card SDK.
 * Each rule was calibrated on small classes run through Oracle's converter (kit 3.1.0,
 * {@code -target 3.0.5}); the planted classes (applets/src/planted) hold those cases and
 * CardBytecodeCheckTest shows that this check agrees with the converter on each.
 *
 * <ul>
 * <li>{@link Rule#STATIC_ARRAY_IN_LIBRARY}: a library package (no applets) creates an array in a
 *     static initialiser ("Static array initialization in class ... in library package not
 *     allowed").</li>
 * <li>{@link Rule#CALL_IN_CLINIT}: any method call in any {@code <clinit>} ("unsupported bytecode
 *     invokestatic in clinit method").</li>
 * <li>{@link Rule#INT_ARITHMETIC}, {@link Rule#INT_TYPE}, {@link Rule#INT_CONSTANT}: 32-bit int
 *     outside a package whose manifest entry says {@code "int_support": true}. javac computes short
 *     arithmetic with int opcodes; the converter turns them into short opcodes where the result
 *     cannot differ, and refuses the rest. Modelled as a data flow over three kinds of int value:
 *     a non-negative literal, a short (loaded from a short/byte variable, field, array element or
 *     method result, or narrowed by i2s/i2b), and a wide value (the result of iadd, isub, imul,
 *     ishl, ineg, iushr, idiv, iinc, or of iand/ior/ixor with a wide operand, except that iand with
 *     a non-negative literal is short again). A wide value may flow into further arithmetic and
 *     must be narrowed before a comparison, a switch, an array index or size, a method argument,
 *     a field, a return, a right shift (ishr, iushr) or a division (idiv, irem). Int literals
 *     outside the short range (ldc) and int in any signature or array type are refused.</li>
 * <li>{@link Rule#LONG_FLOAT_DOUBLE}: any long, float or double, in any package.</li>
 * <li>{@link Rule#STRING}: java.lang.String (literals, types, StringBuilder concatenation).</li>
 * <li>{@link Rule#FOREIGN_REFERENCE}: a reference to another suite package's class that the
 *     package does not export: an applet package exports only its public interfaces that extend
 *     javacard.framework.Shareable; a library package exports its public classes and interfaces
 *     (so a class may not extend an applet package's class either).</li>
 * <li>{@link Rule#ALLOCATION_AFTER_INSTALL}: new, newarray, anewarray, multianewarray,
 *     JCSystem.makeTransient* / makeGlobalArray, any javacard(x) getInstance, KeyBuilder.buildKey*
 *     outside install time. Install time is: constructors ({@code <init>}), the static
 *     {@code install(byte[], short, byte)}, static initialisers (they run when the CAP is loaded;
 *     the rules above restrict them), and static or private methods that are called, and only
 *     called, from install-time methods (transitively). A card has no garbage collector to count on, so an
 *     allocation while processing a command leaks memory for good.</li>
 * </ul>
 */
public final class CardBytecodeCheck {
    public enum Rule {
        STATIC_ARRAY_IN_LIBRARY, CALL_IN_CLINIT, INT_ARITHMETIC, INT_TYPE, INT_CONSTANT,
        LONG_FLOAT_DOUBLE, STRING, FOREIGN_REFERENCE, ALLOCATION_AFTER_INSTALL
    }

    /** One suite package as the manifest describes it. */
    public static final class Package {
        final String name;          // internal form, tpmcard/core
        final boolean hasApplets;
        final boolean intSupport;

        public Package(String javaPackage, boolean hasApplets, boolean intSupport) {
            this.name = javaPackage.replace('.', '/');
            this.hasApplets = hasApplets;
            this.intSupport = intSupport;
        }
    }

    /** A refused construct: the class, the method (name + descriptor, or the field), the line. */
    public static final class Violation {
        public final Rule rule;
        public final String className;
        public final String member;
        public final int line;
        public final String detail;

        Violation(Rule rule, String className, String member, int line, String detail) {
            this.rule = rule;
            this.className = className;
            this.member = member;
            this.line = line;
            this.detail = detail;
        }

        @Override
        public String toString() {
            return rule + " " + className.replace('/', '.') + (member.isEmpty() ? "" : "." + member)
                    + (line > 0 ? " line " + line : "") + ": " + detail;
        }
    }

    private final List<Package> packages;
    private final Map<String, ClassNode> classes = new HashMap<>();
    private final List<Violation> violations = new ArrayList<>();

    private CardBytecodeCheck(List<Package> packages) {
        this.packages = packages;
    }

    /** Checks every class file under {@code classesRoot} that belongs to one of {@code packages}. */
    public static List<Violation> check(Path classesRoot, List<Package> packages) throws IOException {
        CardBytecodeCheck check = new CardBytecodeCheck(packages);
        try (Stream<Path> files = Files.walk(classesRoot)) {
            for (Path file : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                ClassNode node = new ClassNode();
                try (InputStream in = Files.newInputStream(file)) {
                    new ClassReader(in).accept(node, 0);
                }
                if (check.packageOf(node.name) != null) {
                    check.classes.put(node.name, node);
                }
            }
        }
        check.run();
        return check.violations;
    }

    /**
     * For each suite package (internal name), the other suite packages its classes refer to: what
     * the converter needs as export files before it converts the package.
     */
    public static Map<String, Set<String>> imports(Path classesRoot, List<Package> packages) throws IOException {
        Map<String, Set<String>> out = new HashMap<>();
        CardBytecodeCheck check = new CardBytecodeCheck(packages);
        try (Stream<Path> files = Files.walk(classesRoot)) {
            for (Path file : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                ClassReader reader = new ClassReader(Files.readAllBytes(file));
                Package from = check.packageOf(reader.getClassName());
                if (from == null) {
                    continue;
                }
                Set<String> targets = out.computeIfAbsent(from.name, k -> new HashSet<>());
                char[] buffer = new char[reader.getMaxStringLength()];
                for (int i = 1; i < reader.getItemCount(); i++) {
                    int offset = reader.getItem(i);
                    if (offset > 0 && reader.readByte(offset - 1) == 7) {   // CONSTANT_Class
                        String name = reader.readUTF8(offset, buffer);
                        Type t = name.startsWith("[") ? Type.getType(name).getElementType() : Type.getObjectType(name);
                        Package to = t.getSort() == Type.OBJECT ? check.packageOf(t.getInternalName()) : null;
                        if (to != null && to != from) {
                            targets.add(to.name);
                        }
                    }
                }
            }
        }
        return out;
    }

    private Package packageOf(String internalName) {
        int slash = internalName.lastIndexOf('/');
        String pkg = slash < 0 ? "" : internalName.substring(0, slash);
        for (Package p : packages) {
            if (p.name.equals(pkg)) {
                return p;
            }
        }
        return null;
    }

    private void report(Rule rule, ClassNode c, String member, int line, String detail) {
        violations.add(new Violation(rule, c.name, member, line, detail));
    }

    private void run() {
        Set<String> installTime = installTimeMethods();
        for (ClassNode c : classes.values()) {
            Package pkg = packageOf(c.name);
            checkReference(c, "", 0, c.superName, "superclass");
            for (String i : c.interfaces) {
                checkReference(c, "", 0, i, "interface");
            }
            for (FieldNode f : c.fields) {
                checkDescriptor(c, pkg, f.name, 0, f.desc);
                if (f.value instanceof String || f.value instanceof Long || f.value instanceof Float
                        || f.value instanceof Double) {
                    report(f.value instanceof String ? Rule.STRING : Rule.LONG_FLOAT_DOUBLE, c, f.name, 0,
                            "constant " + f.value);
                }
            }
            for (MethodNode m : c.methods) {
                String member = m.name + m.desc;
                checkDescriptor(c, pkg, member, 0, m.desc);
                for (TryCatchBlockNode t : m.tryCatchBlocks) {
                    if (t.type != null) {
                        checkReference(c, member, 0, t.type, "catch");
                    }
                }
                boolean clinit = m.name.equals("<clinit>");
                boolean mayAllocate = installTime.contains(c.name + "." + member);
                int line = 0;
                for (AbstractInsnNode insn : m.instructions) {
                    if (insn instanceof LineNumberNode) {
                        line = ((LineNumberNode) insn).line;
                        continue;
                    }
                    checkInstruction(c, pkg, m, member, line, insn, clinit, mayAllocate);
                }
                if (!pkg.intSupport) {
                    new IntFlow(c, member, m).run();
                }
            }
        }
    }

    // ---- instructions -----------------------------------------------------------------------

    private void checkInstruction(ClassNode c, Package pkg, MethodNode m, String member, int line,
                                  AbstractInsnNode insn, boolean clinit, boolean mayAllocate) {
        int op = insn.getOpcode();
        if (op < 0) {
            return;
        }
        if (isLongFloatDouble(op)) {
            report(Rule.LONG_FLOAT_DOUBLE, c, member, line, "opcode " + op);
        }
        if (!pkg.intSupport && (op == Opcodes.IALOAD || op == Opcodes.IASTORE
                || (op == Opcodes.NEWARRAY && ((IntInsnNode) insn).operand == Opcodes.T_INT))) {
            report(Rule.INT_TYPE, c, member, line, "int array");
        }
        if (insn instanceof LdcInsnNode) {
            Object v = ((LdcInsnNode) insn).cst;
            if (v instanceof String) {
                report(Rule.STRING, c, member, line, "string literal \"" + v + "\"");
            } else if (v instanceof Long || v instanceof Float || v instanceof Double) {
                report(Rule.LONG_FLOAT_DOUBLE, c, member, line, "constant " + v);
            } else if (v instanceof Integer && !pkg.intSupport) {
                report(Rule.INT_CONSTANT, c, member, line, "int constant " + v + " (outside the short range)");
            } else if (v instanceof Type) {
                checkReference(c, member, line, ((Type) v).getInternalName(), "class literal");
            }
        }
        boolean arrayCreation = op == Opcodes.NEWARRAY || op == Opcodes.ANEWARRAY || op == Opcodes.MULTIANEWARRAY;
        if (clinit && arrayCreation && !pkg.hasApplets) {
            report(Rule.STATIC_ARRAY_IN_LIBRARY, c, member, line, "array created in the static initialiser");
        }
        boolean allocation = arrayCreation || op == Opcodes.NEW;
        if (insn instanceof TypeInsnNode) {
            checkReference(c, member, line, ((TypeInsnNode) insn).desc, "type");
        }
        if (insn instanceof MultiANewArrayInsnNode) {
            checkDescriptor(c, pkg, member, line, ((MultiANewArrayInsnNode) insn).desc);
        }
        if (insn instanceof FieldInsnNode) {
            FieldInsnNode f = (FieldInsnNode) insn;
            checkReference(c, member, line, f.owner, "field " + f.name);
            checkDescriptor(c, pkg, member, line, f.desc);
        }
        if (insn instanceof MethodInsnNode) {
            MethodInsnNode call = (MethodInsnNode) insn;
            if (clinit) {
                report(Rule.CALL_IN_CLINIT, c, member, line, "call of " + call.owner + "." + call.name);
            }
            checkReference(c, member, line, call.owner, "method " + call.name);
            checkDescriptor(c, pkg, member, line, call.desc);
            allocation |= allocates(call);
        }
        if (op == Opcodes.INVOKEDYNAMIC) {
            report(Rule.STRING, c, member, line, "invokedynamic (string concatenation or lambda)");
        }
        if (allocation && !mayAllocate) {
            report(Rule.ALLOCATION_AFTER_INSTALL, c, member, line, "allocates outside install time");
        }
    }

    private static boolean allocates(MethodInsnNode call) {
        boolean api = call.owner.startsWith("javacard/") || call.owner.startsWith("javacardx/");
        return (call.owner.equals("javacard/framework/JCSystem")
                        && (call.name.startsWith("makeTransient") || call.name.equals("makeGlobalArray")))
                || (api && call.name.equals("getInstance") && call.getOpcode() == Opcodes.INVOKESTATIC)
                || (call.owner.equals("javacard/security/KeyBuilder") && call.name.startsWith("buildKey"));
    }

    private static boolean isLongFloatDouble(int op) {
        switch (op) {
            case Opcodes.LCONST_0: case Opcodes.LCONST_1: case Opcodes.FCONST_0: case Opcodes.FCONST_1:
            case Opcodes.FCONST_2: case Opcodes.DCONST_0: case Opcodes.DCONST_1:
            case Opcodes.LLOAD: case Opcodes.FLOAD: case Opcodes.DLOAD: case Opcodes.LSTORE: case Opcodes.FSTORE:
            case Opcodes.DSTORE: case Opcodes.LALOAD: case Opcodes.FALOAD: case Opcodes.DALOAD:
            case Opcodes.LASTORE: case Opcodes.FASTORE: case Opcodes.DASTORE:
            case Opcodes.I2L: case Opcodes.I2F: case Opcodes.I2D: case Opcodes.L2I: case Opcodes.L2F: case Opcodes.L2D:
            case Opcodes.F2I: case Opcodes.F2L: case Opcodes.F2D: case Opcodes.D2I: case Opcodes.D2L: case Opcodes.D2F:
            case Opcodes.LCMP: case Opcodes.FCMPL: case Opcodes.FCMPG: case Opcodes.DCMPL: case Opcodes.DCMPG:
            case Opcodes.LRETURN: case Opcodes.FRETURN: case Opcodes.DRETURN:
                return true;
            default:
                return (op >= Opcodes.LADD && op <= Opcodes.DNEG && (op - Opcodes.IADD) % 4 != 0)
                        || (op >= Opcodes.LSHL && op <= Opcodes.LXOR && (op - Opcodes.ISHL) % 2 != 0);
        }
    }

    // ---- types and references ------------------------------------------------------------------

    private void checkDescriptor(ClassNode c, Package pkg, String member, int line, String desc) {
        List<Type> types = new ArrayList<>();
        if (desc.startsWith("(")) {
            for (Type t : Type.getArgumentTypes(desc)) {
                types.add(t);
            }
            types.add(Type.getReturnType(desc));
        } else {
            types.add(Type.getType(desc));
        }
        for (Type t : types) {
            Type element = t.getSort() == Type.ARRAY ? t.getElementType() : t;
            switch (element.getSort()) {
                case Type.LONG: case Type.FLOAT: case Type.DOUBLE:
                    report(Rule.LONG_FLOAT_DOUBLE, c, member, line, "type " + t.getClassName());
                    break;
                case Type.INT:
                    if (!pkg.intSupport) {
                        report(Rule.INT_TYPE, c, member, line, "type " + t.getClassName());
                    }
                    break;
                case Type.OBJECT:
                    checkReference(c, member, line, element.getInternalName(), "type");
                    break;
                default:
                    break;
            }
        }
    }

    private void checkReference(ClassNode from, String member, int line, String target, String what) {
        if (target == null) {
            return;
        }
        if (target.startsWith("[")) {
            Type element = Type.getType(target).getElementType();
            if (element.getSort() != Type.OBJECT) {
                return;
            }
            target = element.getInternalName();
        }
        if (target.equals("java/lang/String") || target.equals("java/lang/StringBuilder")
                || target.equals("java/lang/StringBuffer")) {
            report(Rule.STRING, from, member, line, what + " " + target);
            return;
        }
        Package targetPackage = packageOf(target);
        if (targetPackage == null || targetPackage == packageOf(from.name)) {
            return;
        }
        ClassNode t = classes.get(target);
        boolean exported;
        if (t == null) {
            exported = false;
        } else if (targetPackage.hasApplets) {
            exported = (t.access & Opcodes.ACC_PUBLIC) != 0 && (t.access & Opcodes.ACC_INTERFACE) != 0
                    && extendsShareable(t);
        } else {
            exported = (t.access & Opcodes.ACC_PUBLIC) != 0;
        }
        if (!exported) {
            report(Rule.FOREIGN_REFERENCE, from, member, line, what + " " + target.replace('/', '.')
                    + (targetPackage.hasApplets ? " (an applet package exports only its Shareable interfaces)"
                            : " (not public)"));
        }
    }

    private boolean extendsShareable(ClassNode t) {
        for (String i : t.interfaces) {
            if (i.equals("javacard/framework/Shareable")) {
                return true;
            }
            ClassNode parent = classes.get(i);
            if (parent != null && extendsShareable(parent)) {
                return true;
            }
        }
        return false;
    }

    // ---- install time --------------------------------------------------------------------------

    /** "owner.name+desc" of every method that runs only at install (see the class comment). */
    private Set<String> installTimeMethods() {
        Map<String, Set<String>> callers = new HashMap<>();   // static/private callee -> callers
        Set<String> candidates = new HashSet<>();
        Set<String> installTime = new HashSet<>();
        for (ClassNode c : classes.values()) {
            for (MethodNode m : c.methods) {
                String key = c.name + "." + m.name + m.desc;
                boolean isStatic = (m.access & Opcodes.ACC_STATIC) != 0;
                if (m.name.equals("<init>") || m.name.equals("<clinit>")
                        || (isStatic && m.name.equals("install") && m.desc.equals("([BSB)V"))) {
                    installTime.add(key);
                } else if (isStatic || (m.access & Opcodes.ACC_PRIVATE) != 0) {
                    candidates.add(key);
                }
                for (AbstractInsnNode insn : m.instructions) {
                    if (insn instanceof MethodInsnNode) {
                        MethodInsnNode call = (MethodInsnNode) insn;
                        callers.computeIfAbsent(call.owner + "." + call.name + call.desc, k -> new HashSet<>()).add(key);
                    }
                }
            }
        }
        boolean changed = true;
        while (changed) {
            changed = false;
            for (String candidate : candidates) {
                Set<String> from = callers.get(candidate);
                if (!installTime.contains(candidate) && from != null && installTime.containsAll(from)) {
                    installTime.add(candidate);
                    changed = true;
                }
            }
        }
        return installTime;
    }

    // ---- int data flow -------------------------------------------------------------------------

    /** The kind of an int-typed value; other values are {@link BasicValue}s wrapped with kind null. */
    enum Kind { LITERAL, SHORT, WIDE }

    static final class IntValue implements Value {
        final BasicValue basic;
        final Kind kind;   // null unless basic is INT_VALUE

        IntValue(BasicValue basic, Kind kind) {
            this.basic = basic;
            this.kind = basic == BasicValue.INT_VALUE ? (kind == null ? Kind.SHORT : kind) : null;
        }

        @Override
        public int getSize() {
            return basic == null ? 1 : basic.getSize();
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof IntValue)) {
                return false;
            }
            IntValue v = (IntValue) o;
            return java.util.Objects.equals(basic, v.basic) && kind == v.kind;
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(basic, kind);
        }

        boolean wide() {
            return kind == Kind.WIDE;
        }
    }

    private final class IntFlow extends Interpreter<IntValue> {
        private final ClassNode owner;
        private final String member;
        private final MethodNode method;
        private final BasicInterpreter basic = new BasicInterpreter();
        private final Set<AbstractInsnNode> reported = new HashSet<>();

        IntFlow(ClassNode owner, String member, MethodNode method) {
            super(Opcodes.ASM9);
            this.owner = owner;
            this.member = member;
            this.method = method;
        }

        void run() {
            try {
                new Analyzer<>(this).analyze(owner.name, method);
            } catch (AnalyzerException e) {
                throw new IllegalStateException(owner.name + "." + member + ": " + e.getMessage(), e);
            }
        }

        private IntValue wrap(BasicValue b, Kind kind) {
            return b == null ? null : new IntValue(b, kind);
        }

        private void refuse(AbstractInsnNode insn, String what) {
            if (reported.add(insn)) {
                report(Rule.INT_ARITHMETIC, owner, member, lineOf(insn),
                        what + ": an int intermediate value must be cast to short or byte first");
            }
        }

        private int lineOf(AbstractInsnNode insn) {
            for (AbstractInsnNode p = insn; p != null; p = p.getPrevious()) {
                if (p instanceof LineNumberNode) {
                    return ((LineNumberNode) p).line;
                }
            }
            return 0;
        }

        @Override
        public IntValue newValue(Type type) {
            return wrap(basic.newValue(type), Kind.SHORT);
        }

        @Override
        public IntValue newOperation(AbstractInsnNode insn) throws AnalyzerException {
            BasicValue b = basic.newOperation(insn);
            int op = insn.getOpcode();
            Kind kind = Kind.SHORT;
            if ((op >= Opcodes.ICONST_0 && op <= Opcodes.ICONST_5)
                    || ((op == Opcodes.BIPUSH || op == Opcodes.SIPUSH) && ((IntInsnNode) insn).operand >= 0)) {
                kind = Kind.LITERAL;
            }   // an ldc int (outside the short range) is refused as a constant already
            return wrap(b, kind);
        }

        @Override
        public IntValue copyOperation(AbstractInsnNode insn, IntValue value) {
            return value;
        }

        @Override
        public IntValue unaryOperation(AbstractInsnNode insn, IntValue value) throws AnalyzerException {
            BasicValue b = basic.unaryOperation(insn, value.basic);
            int op = insn.getOpcode();
            switch (op) {
                case Opcodes.I2S: case Opcodes.I2B: case Opcodes.I2C:
                    return wrap(b, Kind.SHORT);
                case Opcodes.INEG: case Opcodes.IINC:
                    return wrap(b, Kind.WIDE);
                case Opcodes.IFEQ: case Opcodes.IFNE: case Opcodes.IFLT: case Opcodes.IFGE: case Opcodes.IFGT:
                case Opcodes.IFLE:
                    if (value.wide()) {
                        refuse(insn, "comparison");
                    }
                    break;
                case Opcodes.TABLESWITCH: case Opcodes.LOOKUPSWITCH:
                    if (value.wide()) {
                        refuse(insn, "switch");
                    }
                    break;
                case Opcodes.NEWARRAY: case Opcodes.ANEWARRAY:
                    if (value.wide()) {
                        refuse(insn, "array size");
                    }
                    break;
                case Opcodes.PUTSTATIC:
                    if (value.wide()) {
                        refuse(insn, "field store");
                    }
                    break;
                default:
                    break;
            }
            return wrap(b, null);
        }

        @Override
        public IntValue binaryOperation(AbstractInsnNode insn, IntValue v1, IntValue v2) throws AnalyzerException {
            BasicValue b = basic.binaryOperation(insn, v1.basic, v2.basic);
            int op = insn.getOpcode();
            boolean eitherWide = v1.wide() || v2.wide();
            switch (op) {
                case Opcodes.IADD: case Opcodes.ISUB: case Opcodes.IMUL: case Opcodes.ISHL:
                    return wrap(b, Kind.WIDE);
                case Opcodes.IAND:
                    if (v1.kind == Kind.LITERAL || v2.kind == Kind.LITERAL) {
                        return wrap(b, Kind.SHORT);   // masked by a non-negative literal
                    }
                    return wrap(b, eitherWide ? Kind.WIDE : Kind.SHORT);
                case Opcodes.IOR: case Opcodes.IXOR:
                    return wrap(b, eitherWide ? Kind.WIDE : Kind.SHORT);
                case Opcodes.ISHR:
                    if (v1.wide()) {
                        refuse(insn, "right shift");
                    }
                    return wrap(b, Kind.SHORT);
                case Opcodes.IUSHR:
                    if (v1.wide()) {
                        refuse(insn, "unsigned right shift");
                    }
                    return wrap(b, Kind.WIDE);
                case Opcodes.IDIV:
                    if (eitherWide) {
                        refuse(insn, "division");
                    }
                    return wrap(b, Kind.WIDE);   // -32768 / -1 leaves the short range
                case Opcodes.IREM:
                    if (eitherWide) {
                        refuse(insn, "remainder");
                    }
                    return wrap(b, Kind.SHORT);
                case Opcodes.IF_ICMPEQ: case Opcodes.IF_ICMPNE: case Opcodes.IF_ICMPLT: case Opcodes.IF_ICMPGE:
                case Opcodes.IF_ICMPGT: case Opcodes.IF_ICMPLE:
                    if (eitherWide) {
                        refuse(insn, "comparison");
                    }
                    break;
                case Opcodes.IALOAD: case Opcodes.BALOAD: case Opcodes.SALOAD: case Opcodes.CALOAD:
                case Opcodes.AALOAD: case Opcodes.LALOAD: case Opcodes.FALOAD: case Opcodes.DALOAD:
                    if (v2.wide()) {
                        refuse(insn, "array index");
                    }
                    return wrap(b, Kind.SHORT);
                case Opcodes.PUTFIELD:
                    if (v2.wide()) {
                        refuse(insn, "field store");
                    }
                    break;
                default:
                    break;
            }
            return wrap(b, null);
        }

        @Override
        public IntValue ternaryOperation(AbstractInsnNode insn, IntValue v1, IntValue v2, IntValue v3)
                throws AnalyzerException {
            if (v2.wide()) {
                refuse(insn, "array index");
            } else if (v3.wide()) {
                refuse(insn, "array element");
            }
            return wrap(basic.ternaryOperation(insn, v1.basic, v2.basic, v3.basic), null);
        }

        @Override
        public IntValue naryOperation(AbstractInsnNode insn, List<? extends IntValue> values) throws AnalyzerException {
            List<BasicValue> bs = new ArrayList<>();
            for (IntValue v : values) {
                bs.add(v.basic);
                if (v.wide()) {
                    refuse(insn, insn.getOpcode() == Opcodes.MULTIANEWARRAY ? "array size" : "method argument");
                }
            }
            return wrap(basic.naryOperation(insn, bs), Kind.SHORT);
        }

        @Override
        public void returnOperation(AbstractInsnNode insn, IntValue value, IntValue expected) {
            if (value.wide()) {
                refuse(insn, "return value");
            }
        }

        @Override
        public IntValue merge(IntValue a, IntValue b) {
            BasicValue m = basic.merge(a.basic, b.basic);
            if (m != BasicValue.INT_VALUE) {
                return m == a.basic && a.kind == null ? a : wrap(m, null);
            }
            Kind kind = a.wide() || b.wide() ? Kind.WIDE
                    : a.kind == Kind.LITERAL && b.kind == Kind.LITERAL ? Kind.LITERAL : Kind.SHORT;
            return kind == a.kind ? a : wrap(m, kind);
        }
    }
}
