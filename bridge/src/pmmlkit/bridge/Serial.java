package pmmlkit.bridge;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.ObjectStreamClass;
import java.io.Serializable;

/**
 * Java serialization of a parsed PMML document: a later process reads the object graph back
 * instead of parsing XML (whose first parse in a JVM costs ~1.5 s of JAXB start-up).
 *
 * Classes are resolved with this class's loader (the one holding JPMML's jars): called from
 * Python there is no user class loader on the stack for the default lookup to find. Only
 * JPMML's model classes and the JDK's value classes are accepted ({@link #ALLOWED}): a cache
 * file is never a way to instantiate anything else.
 */
public final class Serial {

    static final String ALLOWED =
            "org.dmg.pmml.**;org.jpmml.**;java.lang.*;java.util.*;java.math.*;"
            + "com.sun.org.apache.xerces.internal.dom.*;!*";

    private Serial() {
    }

    public static byte[] write(Serializable value) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(1 << 16);
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        return bytes.toByteArray();
    }

    public static Object read(byte[] data) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new LoaderInputStream(new ByteArrayInputStream(data))) {
            in.setObjectInputFilter(ObjectInputFilter.Config.createFilter(ALLOWED));
            return in.readObject();
        }
    }

    private static final class LoaderInputStream extends ObjectInputStream {

        LoaderInputStream(InputStream in) throws IOException {
            super(in);
        }

        @Override
        protected Class<?> resolveClass(ObjectStreamClass desc) throws IOException, ClassNotFoundException {
            try {
                return Class.forName(desc.getName(), false, Serial.class.getClassLoader());
            } catch (ClassNotFoundException e) {
                return super.resolveClass(desc);
            }
        }
    }
}
