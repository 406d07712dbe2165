package io.taskgrid.master.security;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JwtVerifierTest {

    private static final String ISSUER = "https://idp.example.test";
    private static final String AUDIENCE = "taskgrid";

    @TempDir
    Path dir;

    private KeyPair keys;
    private JwtVerifier verifier;
    private Path keyFile;

    @BeforeEach
    void configure() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        keys = generator.generateKeyPair();
        Path pem = dir.resolve("key.pem");
        Files.writeString(pem, "-----BEGIN PUBLIC KEY-----\n"
                + Base64.getMimeEncoder().encodeToString(keys.getPublic().getEncoded()) + "\n-----END PUBLIC KEY-----\n");
        keyFile = pem;
        verifier = new JwtVerifier(Optional.of(pem.toString()), Optional.of(ISSUER), Optional.of(List.of(AUDIENCE)));
    }

    static String jwt(KeyPair keys, String issuer, List<String> groups, long expiresInSeconds) throws Exception {
        return jwt(keys, issuer, AUDIENCE, null, groups, expiresInSeconds);
    }

    static String jwt(KeyPair keys, String issuer, String audience, JOSEObjectType typ, List<String> groups,
                      long expiresInSeconds) throws Exception {
        JWTClaimsSet.Builder claims = new JWTClaimsSet.Builder().issuer(issuer).subject("alice")
                .claim("upn", "alice@example.test").claim("groups", groups)
                .expirationTime(new Date(System.currentTimeMillis() + expiresInSeconds * 1000));
        if (audience != null) {
            claims.audience(audience);
        }
        SignedJWT token = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).type(typ).build(), claims.build());
        token.sign(new RSASSASigner(keys.getPrivate()));
        return token.serialize();
    }

    @Test
    void aValidTokenGivesItsHighestRoleAndName() throws Exception {
        Optional<JwtVerifier.Verdict> verdict = verifier.verify(jwt(keys, ISSUER, List.of("viewer", "submitter", "staff"), 300));
        assertThat(verdict).isPresent();
        assertThat(verdict.get().caller())
                .isEqualTo(new TokenFile.Caller("jwt:alice@" + ISSUER, Role.SUBMITTER));
    }

    /** A token of the test's own: exactly these claims, besides issuer, audience and expiry. */
    private String token(String subject, java.util.Map<String, Object> claims) throws Exception {
        JWTClaimsSet.Builder set = new JWTClaimsSet.Builder().issuer(ISSUER).audience(AUDIENCE).subject(subject)
                .claim("groups", List.of("submitter"))
                .expirationTime(new Date(System.currentTimeMillis() + 300_000));
        claims.forEach(set::claim);
        SignedJWT token = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).build(), set.build());
        token.sign(new RSASSASigner(keys.getPrivate()));
        return token.serialize();
    }

    @Test
    void twoPeopleWithTheSameDisplayNameNeverBecomeOneCaller() throws Exception {
        TokenFile.Caller first = verifier.verify(token("3f2c9a", java.util.Map.of("upn", "pat@example.test",
                "preferred_username", "pat"))).orElseThrow().caller();
        TokenFile.Caller second = verifier.verify(token("88d1e0", java.util.Map.of("upn", "pat@example.test",
                "preferred_username", "pat"))).orElseThrow().caller();
        assertThat(first.name()).isEqualTo("jwt:3f2c9a@" + ISSUER);
        assertThat(second.name()).isEqualTo("jwt:88d1e0@" + ISSUER);
        assertThat(first.name()).isNotEqualTo(second.name());
        // One person whose display name changed stays one caller.
        assertThat(verifier.verify(token("3f2c9a", java.util.Map.of("preferred_username", "patricia")))
                .orElseThrow().caller().name()).isEqualTo(first.name());
    }

    @Test
    void aTokenWithoutASubjectIsRefusedWithAReason() throws Exception {
        Optional<JwtVerifier.Verdict> verdict = verifier.verify(token(null, java.util.Map.of("upn", "pat@example.test")));
        assertThat(verdict).isPresent();
        assertThat(verdict.get().caller()).isNull();
        assertThat(verdict.get().status()).isEqualTo(401);
        assertThat(verdict.get().problem()).contains("sub").contains("issuer");
        for (String bad : List.of(" ", "a\nb", "s".repeat(JwtVerifier.MAX_SUBJECT_LENGTH + 1))) {
            Optional<JwtVerifier.Verdict> refused = verifier.verify(token(bad, java.util.Map.of()));
            assertThat(refused).as(bad).isPresent();
            assertThat(refused.get().caller()).as(bad).isNull();
            assertThat(refused.get().status()).as(bad).isEqualTo(401);
        }
    }

    @Test
    void expiredWronglySignedAndForeignTokensAreRefused() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        assertThat(verifier.verify(jwt(keys, ISSUER, List.of("operator"), -120))).as("expired").isEmpty();
        assertThat(verifier.verify(jwt(generator.generateKeyPair(), ISSUER, List.of("operator"), 300))).as("other key").isEmpty();
        assertThat(verifier.verify(jwt(keys, "https://evil.test", List.of("operator"), 300))).as("other issuer").isEmpty();
        String good = jwt(keys, ISSUER, List.of("operator"), 300);
        String tampered = good.substring(0, good.lastIndexOf('.') - 2) + "xx" + good.substring(good.lastIndexOf('.'));
        assertThat(verifier.verify(tampered)).as("tampered").isEmpty();
    }

    @Test
    void aTokenWithoutATaskgridRoleIsAuthenticatedButGrantsNothing() throws Exception {
        Optional<JwtVerifier.Verdict> verdict = verifier.verify(jwt(keys, ISSUER, List.of("staff"), 300));
        assertThat(verdict).isPresent();
        assertThat(verdict.get().caller()).isNull();
        assertThat(verdict.get().problem()).contains("groups");
    }

    @Test
    void withNoKeyConfiguredEveryJwtIsRefused() throws Exception {
        JwtVerifier off = new JwtVerifier(Optional.empty(), Optional.empty(), Optional.empty());
        assertThat(off.enabled()).isFalse();
        assertThat(off.verify(jwt(keys, ISSUER, List.of("operator"), 300))).isEmpty();
        assertThat(JwtVerifier.looksLikeJwt("tgo_abc")).isFalse();
        assertThat(JwtVerifier.looksLikeJwt("a.b.c")).isTrue();
    }

    @Test
    void aTokenForAnotherAudienceOrWithoutOneIsRefused() throws Exception {
        assertThat(verifier.verify(jwt(keys, ISSUER, "another-app", null, List.of("operator"), 300)))
                .as("minted for another application of the same provider").isEmpty();
        assertThat(verifier.verify(jwt(keys, ISSUER, null, null, List.of("operator"), 300))).as("no aud").isEmpty();
        assertThat(verifier.verify(jwt(keys, ISSUER, AUDIENCE, null, List.of("operator"), 300))).isPresent();
    }

    @Test
    void aTypOtherThanJwtIsRefusedWhenPresent() throws Exception {
        assertThat(verifier.verify(jwt(keys, ISSUER, AUDIENCE, new JOSEObjectType("logout+jwt"), List.of("operator"), 300)))
                .isEmpty();
        assertThat(verifier.verify(jwt(keys, ISSUER, AUDIENCE, JOSEObjectType.JWT, List.of("operator"), 300)))
                .isPresent();
    }

    @Test
    void jwtsNeedAnIssuerAndAnAudienceConfigured() {
        assertThatThrownBy(() -> new JwtVerifier(Optional.of(keyFile.toString()), Optional.empty(),
                Optional.of(List.of(AUDIENCE))))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("taskgrid.jwt.issuer");
        assertThatThrownBy(() -> new JwtVerifier(Optional.of(keyFile.toString()), Optional.of(ISSUER), Optional.empty()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("taskgrid.jwt.audiences");
        assertThatThrownBy(() -> new JwtVerifier(Optional.of(keyFile.toString()), Optional.of(" "),
                Optional.of(List.of(" "))))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void keysComeOnlyFromHttpsOrAFile() {
        assertThatThrownBy(() -> new JwtVerifier(Optional.of("http://idp.example.test/jwks"), Optional.of(ISSUER),
                Optional.of(List.of(AUDIENCE))))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("https");
        assertThatThrownBy(() -> new JwtVerifier(Optional.of("ftp://idp.example.test/jwks"), Optional.of(ISSUER),
                Optional.of(List.of(AUDIENCE))))
                .isInstanceOf(IllegalStateException.class);
        assertThat(new JwtVerifier(Optional.of(keyFile.toUri().toString()), Optional.of(ISSUER),
                Optional.of(List.of(AUDIENCE))).enabled()).as("a file: URL").isTrue();
        assertThat(new JwtVerifier(Optional.of("https://idp.example.test/jwks"), Optional.of(ISSUER),
                Optional.of(List.of(AUDIENCE))).enabled()).as("https is taken as given, fetched when needed").isTrue();
    }
}
