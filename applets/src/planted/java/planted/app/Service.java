package planted.app;

import javacard.framework.Shareable;

/** Exported: a Shareable interface is all that an applet package exports. */
public interface Service extends Shareable {
    short version();
}
