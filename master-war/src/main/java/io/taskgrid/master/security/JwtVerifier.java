package io.taskgrid.master.security;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.ConfigurableJWTProcessor;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import io.taskgrid.master.config.TaskgridConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Callers who come with a JWT from the site's identity provider. Configured with
 * {@code taskgrid.jwt.publickey.location} (a PEM public key file, or an https JWKS URL), {@code taskgrid.jwt.issuer}
 * and {@code taskgrid.jwt.audiences}, the last two required once the first is set. The signature (RS256/384/512,
 * PS256, ES256), issuer, audience, expiry and, when present, {@code typ} are checked by Nimbus JOSE+JWT; the
 * {@code groups} claim carries the Taskgrid role. With no key configured every JWT is refused.
 *
 * <p>Taskgrid's own names, not MicroProfile JWT's {@code mp.jwt.verify.*}: those promise the whole of that
 * specification (decryption, token headers, cookies, clock skew...), of which this verifier implements three settings.
 * The old names still work, with a warning at start (see {@code config.Setting}).
 */
@ApplicationScoped
public class JwtVerifier {

    private static final Logger LOG = Logger.getLogger(JwtVerifier.class.getName());

    /**
     * A verified caller, or (caller null) a token refused with {@code status} and why: 403 for a valid token that
     * grants no Taskgrid role, 401 for a signed token that names no one (no subject).
     */
    public record Verdict(TokenFile.Caller caller, int status, String problem) {
        static Verdict of(TokenFile.Caller caller) {
            return new Verdict(caller, 200, null);
        }

        static Verdict refused(int status, String problem) {
            return new Verdict(null, status, problem);
        }
    }

    /** A subject longer than this is no identity provider's: refused rather than stored. */
    static final int MAX_SUBJECT_LENGTH = 255;

    private ConfigurableJWTProcessor<SecurityContext> processor;
    /** The one issuer trusted; part of every JWT caller's name. */
    private String issuer;

    @Inject
    public JwtVerifier(TaskgridConfig config) {
        this(config.jwtKeyLocation(), config.jwtIssuer(), config.jwtAudiences());
    }

    JwtVerifier(Optional<String> keyLocation, Optional<String> issuer, Optional<List<String>> audiences) {
        Optional<String> location = keyLocation.map(String::trim).filter(s -> !s.isEmpty());
        if (location.isEmpty()) {
            return;
        }
        // A JWT from any issuer, for any audience, would let a token minted for another application of the same
        // identity provider run commands here: both are required once JWTs are on.
        String expectedIssuer = issuer.map(String::trim).filter(s -> !s.isEmpty()).orElseThrow(() ->
                new IllegalStateException("JWTs are enabled (taskgrid.jwt.publickey.location) but "
                        + "taskgrid.jwt.issuer is not set: set it to the identity provider's issuer"));
        Set<String> expectedAudiences = new HashSet<>();
        audiences.orElse(List.of()).stream().map(String::trim).filter(s -> !s.isEmpty()).forEach(expectedAudiences::add);
        if (expectedAudiences.isEmpty()) {
            throw new IllegalStateException("JWTs are enabled (taskgrid.jwt.publickey.location) but "
                    + "taskgrid.jwt.audiences is not set: set it to the audience the identity provider puts in "
                    + "tokens meant for Taskgrid");
        }
        try {
            DefaultJWTProcessor<SecurityContext> jwt = new DefaultJWTProcessor<>();
            jwt.setJWSKeySelector(new JWSVerificationKeySelector<>(Set.of(JWSAlgorithm.RS256, JWSAlgorithm.RS384,
                    JWSAlgorithm.RS512, JWSAlgorithm.PS256, JWSAlgorithm.ES256), keySource(location.get())));
            // typ, when the token has one, must say JWT: a token of another kind signed by the same key is no caller.
            jwt.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(JOSEObjectType.JWT, null));
            jwt.setJWTClaimsSetVerifier(new DefaultJWTClaimsVerifier<>(expectedAudiences,
                    new JWTClaimsSet.Builder().issuer(expectedIssuer).build(), Set.of("exp", "iss", "aud", "sub"),
                    null));
            this.issuer = expectedIssuer;
            processor = jwt;
            LOG.info("JWTs are accepted from issuer " + expectedIssuer + " for audience(s) " + expectedAudiences
                    + ", keys from " + location.get());
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("taskgrid.jwt.publickey.location " + location.get() + ": " + e.getMessage(), e);
        }
    }

    /** Keys from a JWKS URL, which must be https (keys fetched in clear could be swapped), or from a PEM file. */
    private static JWKSource<SecurityContext> keySource(String location) throws Exception {
        String lower = location.toLowerCase(java.util.Locale.ROOT);
        if (lower.startsWith("https://")) {
            return JWKSourceBuilder.create(URI.create(location).toURL()).build();
        }
        if (lower.matches("^[a-z][a-z0-9+.-]*://.*") && !lower.startsWith("file://")) {
            throw new IllegalStateException("taskgrid.jwt.publickey.location " + location + " must be an https URL "
                    + "of a JWKS or a PEM file: keys fetched over plain http could be replaced on the way");
        }
        Path file = lower.startsWith("file:") ? Path.of(URI.create(location)) : Path.of(location);
        return new ImmutableJWKSet<>(new JWKSet(fromPem(Files.readString(file))));
    }

    /** Whether JWTs are accepted at all; asking also makes the configuration be checked now, at start. */
    public boolean enabled() {
        return processor != null;
    }

    /** For the CDI proxy only. */
    protected JwtVerifier() {
    }

    /** Three dot-separated parts: a JWS. Opaque API tokens never contain a dot. */
    static boolean looksLikeJwt(String token) {
        return token.chars().filter(c -> c == '.').count() == 2;
    }

    /**
     * Empty when the token is not valid here: bad signature, expired, wrong issuer, or no key configured.
     *
     * <p>The caller is who the token is about: its subject ({@code sub}) at its issuer ({@code iss}), the one pair an
     * identity provider promises never to give another person. Names meant for display ({@code upn},
     * {@code preferred_username}) are not identities: two people may carry the same one, one after the other or at
     * once, and would become one caller (cancel each other's tasks, share a queue share and Idempotency-Keys). The
     * caller's name is {@code jwt:<sub>@<iss>}; a signed token without a subject names no one and is refused.
     */
    public Optional<Verdict> verify(String token) {
        if (processor == null) {
            return Optional.empty();
        }
        JWTClaimsSet claims;
        try {
            claims = processor.process(token, null);
        } catch (com.nimbusds.jwt.proc.BadJWTException e) {
            // Checked after the signature: the token is the identity provider's, but lacks what names its holder.
            if (e.getMessage() != null && e.getMessage().startsWith("JWT missing required claims")) {
                // Names from the fixed set required above, nothing of the token's own.
                String missing = e.getMessage().substring("JWT missing required claims".length()).replaceAll("[^a-z, ]", "")
                        .trim();
                return Optional.of(Verdict.refused(401, "the JWT lacks the claims " + missing + ": Taskgrid knows a "
                        + "JWT caller by its issuer (iss) and subject (sub), so a token without them names no one"));
            }
            LOG.fine(() -> "JWT refused: " + e.getMessage());
            return Optional.empty();
        } catch (Exception e) {
            LOG.fine(() -> "JWT refused: " + e.getMessage());
            return Optional.empty();
        }
        String subject = claims.getSubject();
        if (subject == null || subject.isBlank() || subject.length() > MAX_SUBJECT_LENGTH
                || subject.chars().anyMatch(Character::isISOControl)) {
            return Optional.of(Verdict.refused(401, "the JWT's subject (sub) must be 1 to " + MAX_SUBJECT_LENGTH
                    + " characters without control characters: Taskgrid knows a JWT caller by its issuer and subject"));
        }
        Optional<Role> role = highestRole(claims);
        String name = "jwt:" + subject + "@" + issuer;
        return Optional.of(role.map(r -> Verdict.of(new TokenFile.Caller(name, r)))
                .orElseGet(() -> Verdict.refused(403,
                        "the token's groups claim holds no Taskgrid role (viewer, submitter, operator)")));
    }

    static Optional<Role> highestRole(JWTClaimsSet claims) {
        Set<String> groups = new HashSet<>();
        try {
            List<String> list = claims.getStringListClaim("groups");
            if (list != null) {
                groups.addAll(list);
            }
        } catch (java.text.ParseException e) {
            return Optional.empty();
        }
        Role best = null;
        for (String group : groups) {
            Optional<Role> role = Role.parse(group);
            if (role.isPresent() && (best == null || role.get().includes(best))) {
                best = role.get();
            }
        }
        return Optional.ofNullable(best);
    }

    /** A PEM "PUBLIC KEY" (X.509 SubjectPublicKeyInfo), RSA or EC P-256, as a JWK. */
    static JWK fromPem(String pem) throws Exception {
        String base64 = pem.replaceAll("-----(BEGIN|END) PUBLIC KEY-----", "").replaceAll("\\s", "");
        X509EncodedKeySpec spec = new X509EncodedKeySpec(Base64.getDecoder().decode(base64));
        try {
            PublicKey key = KeyFactory.getInstance("RSA").generatePublic(spec);
            return new RSAKey.Builder((RSAPublicKey) key).build();
        } catch (java.security.spec.InvalidKeySpecException notRsa) {
            PublicKey key = KeyFactory.getInstance("EC").generatePublic(spec);
            return new ECKey.Builder(Curve.P_256, (ECPublicKey) key).build();
        }
    }
}
