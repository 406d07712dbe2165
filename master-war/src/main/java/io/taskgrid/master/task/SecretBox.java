package io.taskgrid.master.task;

import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Seals a task's {@code secretEnv} so that it is never stored in clear, and keys the hash that lets two requests with
 * secrets be compared. The keys are {@link SecretKeys}, a file readable by the server's user only: the database alone,
 * a backup of it, or a copy of the task table reveals no secret.
 *
 * <p>Each key in the file is a root from which the keys of each use are derived (HKDF-SHA256 with a label per use), so
 * that the encryption key and the hash key are never the same bytes. A sealed value says which key sealed it
 * ({@code tg2:<key id>:<base64 of IV, ciphertext and tag>}, AES-256-GCM) and is bound to its task: the task id is the
 * associated data, so a value copied into another task's row does not open there. Rotation: a new key in the file
 * seals what comes after it, values sealed under an older key open as long as that key is in the file, and
 * {@link #reseal} moves a value to the current key. Values from before key ids (plain base64, the raw key, no
 * associated data) still open with whichever key of the file sealed them.
 */
@ApplicationScoped
public class SecretBox {

    static final String PREFIX = "tg2:";
    private static final int IV_BYTES = 12;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] SEAL_LABEL = "taskgrid secretEnv AES-256-GCM v2".getBytes(StandardCharsets.UTF_8);
    private static final byte[] HASH_LABEL = "taskgrid request fingerprint HMAC-SHA256 v2".getBytes(StandardCharsets.UTF_8);

    private SecretKeys keys;

    @Inject
    public SecretBox(TaskgridConfig config) {
        this(config.secretKeyFile());
    }

    public SecretBox(String keyFile) {
        this(SecretKeys.loadOrCreate(Path.of(keyFile)));
    }

    SecretBox(SecretKeys keys) {
        this.keys = keys;
    }

    /** For the CDI proxy only. */
    protected SecretBox() {
    }

    /** The keys this box uses; the file is read again when it changes. */
    public SecretKeys keys() {
        return keys;
    }

    /** {@code plaintext} sealed under the current key, for task {@code taskId} only. */
    public String seal(String taskId, String plaintext) {
        SecretKeys.Ring ring = keys.ring();
        String id = ring.currentId();
        try {
            byte[] iv = new byte[IV_BYTES];
            RANDOM.nextBytes(iv);
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(derive(ring.key(id), SEAL_LABEL), "AES"),
                    new GCMParameterSpec(128, iv));
            cipher.updateAAD(associatedData(id, taskId));
            byte[] sealed = cipher.doFinal(plaintext.getBytes(StandardCharsets.UTF_8));
            return PREFIX + id + ":" + Base64.getEncoder().encodeToString(ByteBuffer.allocate(iv.length + sealed.length)
                    .put(iv).put(sealed).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot seal a secret", e);
        }
    }

    /**
     * The plaintext of a value sealed for {@code taskId}.
     *
     * @throws IllegalStateException when the key that sealed it is not in the file any more, or the value was altered
     *                               or sealed for another task
     */
    public String open(String taskId, String sealedText) {
        SecretKeys.Ring ring = keys.ring();
        if (!sealedText.startsWith(PREFIX)) {
            return openLegacy(ring, sealedText);
        }
        int colon = sealedText.indexOf(':', PREFIX.length());
        String id = colon < 0 ? "" : sealedText.substring(PREFIX.length(), colon);
        byte[] key = ring.keyOrNull(id);
        if (key == null) {
            key = keys.ringWith(id).keyOrNull(id);
        }
        if (key == null) {
            throw new IllegalStateException("a sealed secret of task " + taskId + " needs key '" + id + "', which is not "
                    + "in the secret key file any more; put it back, or the task cannot run");
        }
        try {
            byte[] all = Base64.getDecoder().decode(sealedText.substring(colon + 1));
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(derive(key, SEAL_LABEL), "AES"),
                    new GCMParameterSpec(128, all, 0, IV_BYTES));
            cipher.updateAAD(associatedData(id, taskId));
            return new String(cipher.doFinal(all, IV_BYTES, all.length - IV_BYTES), StandardCharsets.UTF_8);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IllegalStateException("a sealed secret of task " + taskId + " does not open with key '" + id
                    + "': altered, or sealed for another task", e);
        }
    }

    /** The key id a value was sealed under; empty for a value from before key ids. */
    public static Optional<String> keyIdOf(String sealedText) {
        if (sealedText == null || !sealedText.startsWith(PREFIX)) {
            return Optional.empty();
        }
        int colon = sealedText.indexOf(':', PREFIX.length());
        return colon < 0 ? Optional.empty() : Optional.of(sealedText.substring(PREFIX.length(), colon));
    }

    /** Whether {@code sealedText} is sealed under the current key (else {@link #reseal} moves it there). */
    public boolean isUnderCurrentKey(String sealedText) {
        return keyIdOf(sealedText).filter(id -> id.equals(keys.ring().currentId())).isPresent();
    }

    /** The same secret, sealed under the current key; {@code sealedText} itself when it already is. */
    public String reseal(String taskId, String sealedText) {
        return isUnderCurrentKey(sealedText) ? sealedText : seal(taskId, open(taskId, sealedText));
    }

    /** Sealed before key ids: AES-GCM under a raw key of the file, without associated data; tried with each. */
    private static String openLegacy(SecretKeys.Ring ring, String sealedText) {
        byte[] all;
        try {
            all = Base64.getDecoder().decode(sealedText);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("a sealed secret is neither of this version nor of an earlier one", e);
        }
        for (byte[] key : ring.all().values()) {
            try {
                Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
                cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, all, 0, IV_BYTES));
                return new String(cipher.doFinal(all, IV_BYTES, all.length - IV_BYTES), StandardCharsets.UTF_8);
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // not this key; try the next
            }
        }
        throw new IllegalStateException("a sealed secret from before key ids opens with no key of the secret key file");
    }

    /**
     * A keyed hash under the current key: lets two requests be compared without storing anything a guess could be
     * checked against.
     */
    public String mac(String text) {
        SecretKeys.Ring ring = keys.ring();
        return hmac(derive(ring.key(ring.currentId()), HASH_LABEL), text);
    }

    /**
     * The keyed hash of {@code text} under every key of the file, the current one first (and as before key ids, the
     * raw key): a fingerprint stored before a rotation is still recognised after it.
     */
    public List<String> macsUnderEveryKey(String text) {
        SecretKeys.Ring ring = keys.ring();
        Set<String> macs = new LinkedHashSet<>();
        macs.add(hmac(derive(ring.key(ring.currentId()), HASH_LABEL), text));
        for (Map.Entry<String, byte[]> key : ring.all().entrySet()) {
            macs.add(hmac(derive(key.getValue(), HASH_LABEL), text));
        }
        for (byte[] key : ring.all().values()) {
            macs.add(hmac(key, text));
        }
        return new ArrayList<>(macs);
    }

    private static String hmac(byte[] key, String text) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(text.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot hash", e);
        }
    }

    /** The key id and the task: a value opens only as what it was sealed as. */
    private static byte[] associatedData(String keyId, String taskId) {
        return (PREFIX + keyId + ":" + taskId).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * HKDF-SHA256 (RFC 5869) of one 32-byte key for one use: extract with a fixed salt, expand one block with the
     * use's label.
     */
    static byte[] derive(byte[] root, byte[] label) {
        try {
            Mac extract = Mac.getInstance("HmacSHA256");
            extract.init(new SecretKeySpec("taskgrid".getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            byte[] pseudoRandomKey = extract.doFinal(root);
            Mac expand = Mac.getInstance("HmacSHA256");
            expand.init(new SecretKeySpec(pseudoRandomKey, "HmacSHA256"));
            expand.update(label);
            expand.update((byte) 1);
            return expand.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot derive a key", e);
        }
    }
}
