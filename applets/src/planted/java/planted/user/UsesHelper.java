package planted.user;

import planted.app.Helper;

/** Refused: uses a class of an applet package that is not a Shareable interface (not in its export file). */
public final class UsesHelper {
    public static short value(Helper helper) {
        return helper.value();
    }
}
