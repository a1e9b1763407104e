package planted.user;

import planted.app.Helper;

/**
 * Refused: extends a class of another applet package (as HmacProviderV2 extended HmacProvider).
 * Converter: "super class planted.app.Helper not found in export file app.exp".
 */
public final class ExtendsHelper extends Helper {
}
