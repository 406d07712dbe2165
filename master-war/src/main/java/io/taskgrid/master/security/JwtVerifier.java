package io.taskgrid.master.security;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.ConfigurableJWTProcessor;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

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
 * Callers who come with a JWT from the site's identity provider. Configured with the MicroProfile JWT names:
 * {@code mp.jwt.verify.issuer}, and {@code mp.jwt.verify.publickey.location} (a PEM public key file, or a JWKS URL).
 * The signature (RS256/384/512, PS256, ES256), issuer and expiry are checked by Nimbus JOSE+JWT; the {@code groups}
 * claim carries the Taskgrid role. With no key configured every JWT is refused.
 */
@ApplicationScoped
public class JwtVerifier {

    private static final Logger LOG = Logger.getLogger(JwtVerifier.class.getName());

    /** A verified caller, or (caller null) a valid token that grants no Taskgrid role, with why. */
    public record Verdict(TokenFile.Caller caller, String problem) {
    }

    private ConfigurableJWTProcessor<SecurityContext> processor;

    @Inject
    public JwtVerifier(@ConfigProperty(name = "mp.jwt.verify.publickey.location") Optional<String> keyLocation,
                       @ConfigProperty(name = "mp.jwt.verify.issuer") Optional<String> issuer) {
        Optional<String> location = keyLocation.filter(s -> !s.isBlank());
        if (location.isEmpty()) {
            return;
        }
        try {
            JWKSource<SecurityContext> keys = location.get().startsWith("http://") || location.get().startsWith("https://")
                    ? JWKSourceBuilder.create(URI.create(location.get()).toURL()).build()
                    : new ImmutableJWKSet<>(new JWKSet(fromPem(Files.readString(Path.of(location.get())))));
            DefaultJWTProcessor<SecurityContext> jwt = new DefaultJWTProcessor<>();
            jwt.setJWSKeySelector(new JWSVerificationKeySelector<>(Set.of(JWSAlgorithm.RS256, JWSAlgorithm.RS384,
                    JWSAlgorithm.RS512, JWSAlgorithm.PS256, JWSAlgorithm.ES256), keys));
            JWTClaimsSet.Builder exact = new JWTClaimsSet.Builder();
            issuer.filter(s -> !s.isBlank()).ifPresent(exact::issuer);
            jwt.setJWTClaimsSetVerifier(new DefaultJWTClaimsVerifier<>(exact.build(), Set.of("exp")));
            processor = jwt;
            LOG.info("JWTs are accepted from issuer " + issuer.orElse("(any)") + ", keys from " + location.get());
        } catch (Exception e) {
            throw new IllegalStateException("mp.jwt.verify.publickey.location " + location.get() + ": " + e.getMessage(), e);
        }
    }

    /** For the CDI proxy only. */
    protected JwtVerifier() {
    }

    /** Three dot-separated parts: a JWS. Opaque API tokens never contain a dot. */
    static boolean looksLikeJwt(String token) {
        return token.chars().filter(c -> c == '.').count() == 2;
    }

    /** Empty when the token is not valid here: bad signature, expired, wrong issuer, or no key configured. */
    public Optional<Verdict> verify(String token) {
        if (processor == null) {
            return Optional.empty();
        }
        JWTClaimsSet claims;
        try {
            claims = processor.process(token, null);
        } catch (Exception e) {
            LOG.fine(() -> "JWT refused: " + e.getMessage());
            return Optional.empty();
        }
        Optional<Role> role = highestRole(claims);
        String name = "jwt:" + firstNonNull(claim(claims, "upn"), claim(claims, "preferred_username"), claims.getSubject());
        return Optional.of(role.map(r -> new Verdict(new TokenFile.Caller(name, r), null))
                .orElseGet(() -> new Verdict(null,
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

    private static String claim(JWTClaimsSet claims, String name) {
        try {
            return claims.getStringClaim(name);
        } catch (java.text.ParseException e) {
            return null;
        }
    }

    private static String firstNonNull(String... values) {
        for (String value : values) {
            if (value != null) {
                return value;
            }
        }
        return "unknown";
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
