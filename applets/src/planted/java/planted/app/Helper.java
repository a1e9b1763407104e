package planted.app;

/** Public, but in an applet package: not exported, so other packages may neither use nor extend it. */
public class Helper {
    public short value() {
        return 1;
    }
}
